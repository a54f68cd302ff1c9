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
  for (int i = 0; i < 5; ++i) queue.push_back(Frame(i));
  queue.PopFront(2);
  queue.push_back(Frame(5));
  EXPECT_EQ(Contents(queue), "2,3,4,5,");
  queue.PopFront(1);  // popped prefix (3) now as long as the rest: compacted
  EXPECT_EQ(Contents(queue), "3,4,5,");
  EXPECT_EQ(*queue.back(), "5");
  queue.pop_back();
  EXPECT_EQ(Contents(queue), "3,4,");
  queue.PopFront(2);
  EXPECT_TRUE(queue.empty());
  queue.push_back(Frame(6));
  EXPECT_EQ(Contents(queue), "6,");
}

TEST(FrameQueueTest, PoppedFramesAreReleasedAtOnce) {
  FrameQueue queue;
  FramePtr first = Frame(1);
  std::weak_ptr<const std::string> watch = first;
  queue.push_back(std::move(first));
  for (int i = 2; i < 10; ++i) queue.push_back(Frame(i));
  queue.PopFront(1);  // not compacted yet: only the slot is cleared
  EXPECT_TRUE(watch.expired());
  EXPECT_EQ(queue.size(), 8u);
  EXPECT_EQ(*queue[0], "2");
}

TEST(FrameQueueTest, ManySmallPopsBehindAGrowingQueueKeepOrder) {
  FrameQueue queue;
  int next_in = 0, next_out = 0;
  for (int round = 0; round < 1000; ++round) {
    for (int i = 0; i < 3; ++i) queue.push_back(Frame(next_in++));
    ASSERT_EQ(*queue[0], std::to_string(next_out));
    queue.PopFront(2);
    next_out += 2;
  }
  EXPECT_EQ(queue.size(), 1000u);
  EXPECT_EQ(*queue[0], std::to_string(next_out));
  EXPECT_EQ(*queue.back(), std::to_string(next_in - 1));
}

}  // namespace
}  // namespace herald::session
