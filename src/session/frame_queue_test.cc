#include "session/frame_queue.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace herald::session {
namespace {

FramePtr Frame(int n) { return std::make_shared<const std::string>(std::to_string(n)); }

std::string Contents(const FrameQueue& queue) {
  std::string out;
  for (std::size_t i = 0; i < queue.size(); ++i) out += *queue[i] + ",";
  return out;
}

TEST(FrameQueueTest, KeepsOrderAcrossPopsAndPushes) {
  FrameQueue queue;
  EXPECT_TRUE(queue.empty());
  EXPECT_EQ(queue.capacity(), 0u);  // nothing allocated until used
  for (int i = 0; i < 5; ++i) queue.Push(Frame(i));
  queue.PopFront(2);
  queue.Push(Frame(5));
  EXPECT_EQ(Contents(queue), "2,3,4,5,");
  queue.PopFront(1);  // the popped prefix (3) is now as long as the rest
  EXPECT_EQ(Contents(queue), "3,4,5,");
  EXPECT_EQ(*queue.Back(), "5");
  queue.PopBack();
  EXPECT_EQ(Contents(queue), "3,4,");
  queue.PopFront(0);
  EXPECT_EQ(Contents(queue), "3,4,");
  queue.PopFront(2);
  EXPECT_TRUE(queue.empty());
  queue.Push(Frame(6));
  EXPECT_EQ(Contents(queue), "6,");
}

TEST(FrameQueueTest, PoppedFramesAreReleasedAtOnce) {
  FrameQueue queue;
  FramePtr first = Frame(1);
  std::weak_ptr<const std::string> watch = first;
  queue.Push(std::move(first));
  for (int i = 2; i < 10; ++i) queue.Push(Frame(i));
  queue.PopFront(1);  // not compacted yet: only the slot is cleared
  EXPECT_TRUE(watch.expired());
  EXPECT_EQ(queue.size(), 8u);
  EXPECT_EQ(*queue[0], "2");
}

// The slow-consumer path: everything not in flight is dropped from the back,
// possibly down to nothing while popped slots remain at the front.
TEST(FrameQueueTest, PopBackDownToEmptyThenReuse) {
  FrameQueue queue;
  for (int i = 0; i < 6; ++i) queue.Push(Frame(i));
  queue.PopFront(2);  // slots 0 and 1 popped, not compacted (2 < 4)
  while (!queue.empty()) queue.PopBack();
  EXPECT_EQ(queue.size(), 0u);
  queue.Push(Frame(7));
  queue.Push(Frame(8));
  EXPECT_EQ(Contents(queue), "7,8,");
  queue.PopFront(1);
  EXPECT_EQ(Contents(queue), "8,");
}

TEST(FrameQueueTest, ABurstDoesNotPinItsPeakSize) {
  FrameQueue queue;
  for (int i = 0; i < 1000; ++i) queue.Push(Frame(i));
  EXPECT_GE(queue.capacity(), 1000u);
  queue.PopFront(1000);
  EXPECT_TRUE(queue.empty());
  EXPECT_LE(queue.capacity(), FrameQueue::kKeptSlots);

  for (int i = 0; i < 4; ++i) queue.Push(Frame(i));
  std::size_t small = queue.capacity();
  queue.PopFront(4);
  EXPECT_EQ(queue.capacity(), small);  // a trickle keeps its few slots
}

TEST(FrameQueueTest, ManySmallPopsBehindAGrowingQueueKeepOrder) {
  FrameQueue queue;
  int next_in = 0, next_out = 0;
  for (int round = 0; round < 1000; ++round) {
    for (int i = 0; i < 3; ++i) queue.Push(Frame(next_in++));
    ASSERT_EQ(*queue[0], std::to_string(next_out));
    queue.PopFront(2);
    next_out += 2;
  }
  EXPECT_EQ(queue.size(), 1000u);
  EXPECT_EQ(*queue[0], std::to_string(next_out));
  EXPECT_EQ(*queue.Back(), std::to_string(next_in - 1));
}

}  // namespace
}  // namespace herald::session
