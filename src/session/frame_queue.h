// The outgoing frames of one session, oldest first.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

#include "session/subscriber.h"

namespace herald::session {

// A FIFO of shared frames that allocates nothing until the first push and
// keeps only a small vector afterwards: std::deque allocates ~600 bytes on
// construction, which an idle connection (most of them) would pay for ever.
// Frames are popped from the front in groups (what one write sent), so the
// front is an index; the vector is compacted once the popped prefix is as
// long as what remains, which keeps pops amortized O(1).
class FrameQueue {
 public:
  bool empty() const { return head_ == frames_.size(); }
  std::size_t size() const { return frames_.size() - head_; }
  const FramePtr& operator[](std::size_t i) const { return frames_[head_ + i]; }
  const FramePtr& back() const { return frames_.back(); }

  void push_back(FramePtr frame) { frames_.push_back(std::move(frame)); }
  void pop_back() { frames_.pop_back(); }

  // Drops the first n frames (n <= size()), releasing them at once.
  void PopFront(std::size_t n) {
    for (std::size_t end = head_ + n; head_ < end; ++head_) frames_[head_].reset();
    if (head_ == frames_.size()) {
      frames_.clear();
      head_ = 0;
    } else if (head_ >= frames_.size() - head_) {
      frames_.erase(frames_.begin(), frames_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }

  void clear() {
    frames_.clear();
    head_ = 0;
  }

 private:
  std::vector<FramePtr> frames_;
  std::size_t head_ = 0;  // frames_[0, head_) are popped (null)
};

}  // namespace herald::session
