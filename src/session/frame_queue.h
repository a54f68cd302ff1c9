// The outgoing frames of one session, oldest first.
#pragma once

#include <cassert>
#include <cstddef>
#include <utility>
#include <vector>

#include "session/subscriber.h"

namespace herald::session {

// A FIFO of shared frames that allocates nothing until the first push and
// gives its memory back when it empties after a burst: std::deque allocates
// ~600 bytes on construction, which every idle connection would pay for.
// Frames are popped from the front in groups (what one write sent), so the
// front is an index; the vector is compacted once the popped prefix is as
// long as what remains, which keeps pops amortized O(1).
//
// Threads: owned by one Session, touched only on its shard thread.
class FrameQueue {
 public:
  // Slots held while empty: a steady trickle of events reuses them, a burst
  // (up to max_queue_bytes of frames) does not pin its peak size.
  static constexpr std::size_t kKeptSlots = 16;

  bool empty() const { return head_ == frames_.size(); }
  std::size_t size() const { return frames_.size() - head_; }
  const FramePtr& operator[](std::size_t i) const { return frames_[head_ + i]; }

  const FramePtr& Back() const {
    assert(!empty());
    return frames_.back();
  }
  void Push(FramePtr frame) { frames_.push_back(std::move(frame)); }
  void PopBack() {
    assert(!empty());
    frames_.pop_back();
    if (empty()) Clear();
  }

  // Drops the first n frames (n <= size()), releasing them at once.
  void PopFront(std::size_t n) {
    assert(n <= size());
    for (std::size_t end = head_ + n; head_ < end; ++head_) frames_[head_].reset();
    if (empty()) {
      Clear();
    } else if (head_ >= size()) {
      frames_.erase(frames_.begin(), frames_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }

  // Empties the queue; keeps the slots only if there are few of them.
  void Clear() {
    if (frames_.capacity() > kKeptSlots) {
      std::vector<FramePtr>().swap(frames_);
    } else {
      frames_.clear();
    }
    head_ = 0;
  }

  // Slots allocated, popped or not; for tests.
  std::size_t capacity() const { return frames_.capacity(); }

 private:
  std::vector<FramePtr> frames_;
  std::size_t head_ = 0;  // frames_[0, head_) are popped (null)
};

}  // namespace herald::session
