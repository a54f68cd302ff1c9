// The subscription index of one shard (DESIGN.md section 4).
#pragma once

#include <array>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/name.h"

namespace herald::core {

// Maps patterns to subscribers and finds, for an event name, every subscriber holding a
// matching pattern. Modelled on the NATS sublist: a trie over segments where each node
// has its literal children in a hash map, one child for "*", the subscribers whose
// pattern ends at the node, and the subscribers whose pattern continues with ">" after
// it. The cost of one match depends on the number of segments of the name and on the
// shape of the trie, never on the number of subscriptions.
//
// `Subscriber` is a cheap, copyable, equality-comparable handle with a std::hash
// specialization (a raw `Session*` in the server, an int in tests). The trie never
// dereferences it and does not own what it points to.
//
// Threads: not synchronized. Each shard thread owns one trie and is the only thread
// that touches it; nothing is locked.
template <typename Subscriber>
class SubscriptionTrie {
 public:
  SubscriptionTrie() = default;
  SubscriptionTrie(const SubscriptionTrie&) = delete;
  SubscriptionTrie& operator=(const SubscriptionTrie&) = delete;
  // A moved-from trie may only be destroyed or assigned to.
  SubscriptionTrie(SubscriptionTrie&&) = default;
  SubscriptionTrie& operator=(SubscriptionTrie&&) = default;

  // Records that `subscriber` holds `pattern`. Returns true if the pair is new; returns
  // false and changes nothing if it was already present or if the pattern is invalid
  // (callers validate first so they can report the error).
  bool Add(std::string_view pattern, Subscriber subscriber);

  // Forgets that `subscriber` holds `pattern` (the exact pattern string, not whatever it
  // overlaps). Returns true if the pair was present. Nodes left empty are freed.
  bool Remove(std::string_view pattern, Subscriber subscriber);

  // Calls visit(subscriber) once for every (pattern, subscriber) pair whose pattern
  // matches `name`, which must be a valid name (one with more than kMaxSegments
  // segments matches nothing).
  //
  // Note that a subscriber holding several matching patterns (say "users.*.*" and
  // "users.>") is visited once per such pattern: deduplication is the caller's job,
  // e.g. with a per-connection stamp of the last event delivered. `visit` must not
  // modify the trie. The visit order is unspecified.
  template <class F>
  void ForEachMatch(std::string_view name, F&& visit) const;

  // The number of calls ForEachMatch(name, ...) would make, computed from the sizes of
  // the matched subscriber sets without walking them. Used to choose between walking
  // the matches and walking a small audience.
  std::size_t CountMatches(std::string_view name) const;

  // The number of (pattern, subscriber) pairs held.
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // The number of trie nodes below the root; exposed so tests can check that Remove
  // frees what it no longer needs.
  std::size_t node_count() const { return node_count_; }

 private:
  class SubscriberSet;
  struct Node;

  // Hash and equality that accept std::string_view, so matching looks literal children
  // up without building a std::string.
  struct SegmentHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view segment) const noexcept {
      return std::hash<std::string_view>{}(segment);
    }
  };
  using LiteralMap =
      std::unordered_map<std::string, std::unique_ptr<Node>, SegmentHash, std::equal_to<>>;

  // A name split into its segments; count > kMaxSegments marks a name too long to match.
  struct SplitName {
    std::array<std::string_view, kMaxSegments> segments;
    std::size_t count = 0;
  };

  static SplitName Split(std::string_view name);
  Node& ChildFor(Node& parent, std::string_view segment);
  static Node* FindChild(Node& parent, std::string_view segment);
  void Prune(const std::array<Node*, kMaxSegments + 1>& path,
             const std::array<std::string_view, kMaxSegments>& keys, std::size_t depth);

  template <class F>
  static void VisitMatchedSets(const Node& node, const SplitName& name, std::size_t depth,
                               F& visit_set);

  std::unique_ptr<Node> root_ = std::make_unique<Node>();
  std::size_t size_ = 0;
  std::size_t node_count_ = 0;
};

// An unordered set of subscribers with O(1) insert and erase and contiguous iteration.
// Most sets hold one or a few subscribers (one connection per concrete pattern), so they
// are a plain vector searched linearly; past kIndexThreshold entries a position index is
// built, so that a node shared by 100k connections still adds and removes in O(1).
// Erase swaps the last entry into the hole.
template <typename Subscriber>
class SubscriptionTrie<Subscriber>::SubscriberSet {
 public:
  bool Insert(Subscriber subscriber) {
    if (Find(subscriber) != kNotFound) return false;
    if (index_) index_->emplace(subscriber, items_.size());
    items_.push_back(subscriber);
    if (!index_ && items_.size() > kIndexThreshold) BuildIndex();
    return true;
  }

  bool Erase(Subscriber subscriber) {
    std::size_t position = Find(subscriber);
    if (position == kNotFound) return false;

    Subscriber last = items_.back();
    items_[position] = last;
    items_.pop_back();
    if (index_) {
      (*index_)[last] = position;
      index_->erase(subscriber);
      // Hysteresis: drop the index well below the threshold, not at it.
      if (items_.size() < kIndexThreshold / 2) index_.reset();
    }
    return true;
  }

  std::size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }

 private:
  // Up to this many entries a linear scan beats hashing and saves the index's memory.
  static constexpr std::size_t kIndexThreshold = 16;
  static constexpr std::size_t kNotFound = static_cast<std::size_t>(-1);

  std::size_t Find(const Subscriber& subscriber) const {
    if (index_) {
      auto it = index_->find(subscriber);
      return it == index_->end() ? kNotFound : it->second;
    }
    for (std::size_t i = 0; i < items_.size(); ++i) {
      if (items_[i] == subscriber) return i;
    }
    return kNotFound;
  }

  void BuildIndex() {
    index_ = std::make_unique<std::unordered_map<Subscriber, std::size_t>>();
    index_->reserve(items_.size() * 2);
    for (std::size_t i = 0; i < items_.size(); ++i) index_->emplace(items_[i], i);
  }

  std::vector<Subscriber> items_;
  std::unique_ptr<std::unordered_map<Subscriber, std::size_t>> index_;
};

template <typename Subscriber>
struct SubscriptionTrie<Subscriber>::Node {
  LiteralMap literals;
  std::unique_ptr<Node> star;  // the "*" child
  SubscriberSet exact;         // patterns that end at this node
  SubscriberSet rest;          // patterns that end with ">" right after this node

  bool IsEmpty() const { return literals.empty() && !star && exact.empty() && rest.empty(); }
};

template <typename Subscriber>
bool SubscriptionTrie<Subscriber>::Add(std::string_view pattern, Subscriber subscriber) {
  if (!IsValidPattern(pattern)) return false;

  Node* node = root_.get();
  bool ends_with_rest = false;
  SegmentCursor cursor(pattern);
  std::string_view segment;
  while (cursor.Next(&segment)) {
    if (segment == kWildcardRest) {
      ends_with_rest = true;  // valid patterns have ">" last only
      break;
    }
    node = &ChildFor(*node, segment);
  }

  SubscriberSet& set = ends_with_rest ? node->rest : node->exact;
  if (!set.Insert(subscriber)) return false;
  ++size_;
  return true;
}

template <typename Subscriber>
bool SubscriptionTrie<Subscriber>::Remove(std::string_view pattern, Subscriber subscriber) {
  std::array<Node*, kMaxSegments + 1> path;         // path[d] is the node at depth d
  std::array<std::string_view, kMaxSegments> keys;  // keys[d] leads from path[d]
  std::size_t depth = 0;
  path[0] = root_.get();
  bool ends_with_rest = false;
  SegmentCursor cursor(pattern);
  std::string_view segment;
  while (cursor.Next(&segment)) {
    if (segment == kWildcardRest) {
      ends_with_rest = true;
      break;
    }
    Node* child = depth < kMaxSegments ? FindChild(*path[depth], segment) : nullptr;
    if (child == nullptr) return false;
    keys[depth] = segment;
    path[++depth] = child;
  }

  SubscriberSet& set = ends_with_rest ? path[depth]->rest : path[depth]->exact;
  if (!set.Erase(subscriber)) return false;
  --size_;
  Prune(path, keys, depth);
  return true;
}

template <typename Subscriber>
template <class F>
void SubscriptionTrie<Subscriber>::ForEachMatch(std::string_view name, F&& visit) const {
  SplitName split = Split(name);
  if (split.count > kMaxSegments) return;

  auto visit_set = [&visit](const SubscriberSet& set) {
    for (const Subscriber& subscriber : set) visit(subscriber);
  };
  VisitMatchedSets(*root_, split, 0, visit_set);
}

template <typename Subscriber>
std::size_t SubscriptionTrie<Subscriber>::CountMatches(std::string_view name) const {
  SplitName split = Split(name);
  if (split.count > kMaxSegments) return 0;

  std::size_t count = 0;
  auto count_set = [&count](const SubscriberSet& set) { count += set.size(); };
  VisitMatchedSets(*root_, split, 0, count_set);
  return count;
}

template <typename Subscriber>
typename SubscriptionTrie<Subscriber>::SplitName SubscriptionTrie<Subscriber>::Split(
    std::string_view name) {
  SplitName split;
  SegmentCursor cursor(name);
  std::string_view segment;
  while (cursor.Next(&segment)) {
    if (split.count == kMaxSegments) {
      split.count = kMaxSegments + 1;
      break;
    }
    split.segments[split.count++] = segment;
  }
  return split;
}

// Calls visit_set for every non-empty subscriber set below `node` whose pattern matches
// the segments of `name` from `depth` on. Recursion is at most kMaxSegments deep.
template <typename Subscriber>
template <class F>
void SubscriptionTrie<Subscriber>::VisitMatchedSets(const Node& node, const SplitName& name,
                                                    std::size_t depth, F& visit_set) {
  if (depth == name.count) {
    if (!node.exact.empty()) visit_set(node.exact);
    return;
  }

  // At least one segment remains, which is all ">" asks for.
  if (!node.rest.empty()) visit_set(node.rest);

  auto it = node.literals.find(name.segments[depth]);
  if (it != node.literals.end()) VisitMatchedSets(*it->second, name, depth + 1, visit_set);
  if (node.star) VisitMatchedSets(*node.star, name, depth + 1, visit_set);
}

template <typename Subscriber>
typename SubscriptionTrie<Subscriber>::Node& SubscriptionTrie<Subscriber>::ChildFor(
    Node& parent, std::string_view segment) {
  std::unique_ptr<Node>* slot;
  if (segment == kWildcardOne) {
    slot = &parent.star;
  } else {
    auto it = parent.literals.find(segment);
    if (it == parent.literals.end()) it = parent.literals.emplace(segment, nullptr).first;
    slot = &it->second;
  }

  if (!*slot) {
    *slot = std::make_unique<Node>();
    ++node_count_;
  }
  return **slot;
}

template <typename Subscriber>
typename SubscriptionTrie<Subscriber>::Node* SubscriptionTrie<Subscriber>::FindChild(
    Node& parent, std::string_view segment) {
  if (segment == kWildcardOne) return parent.star.get();
  auto it = parent.literals.find(segment);
  return it == parent.literals.end() ? nullptr : it->second.get();
}

// Frees the empty nodes at the end of `path`, deepest first, stopping at the first node
// still in use. The root is never freed.
template <typename Subscriber>
void SubscriptionTrie<Subscriber>::Prune(const std::array<Node*, kMaxSegments + 1>& path,
                                         const std::array<std::string_view, kMaxSegments>& keys,
                                         std::size_t depth) {
  for (; depth > 0 && path[depth]->IsEmpty(); --depth) {
    Node& parent = *path[depth - 1];
    std::string_view key = keys[depth - 1];
    if (key == kWildcardOne) {
      parent.star.reset();
    } else {
      parent.literals.erase(parent.literals.find(key));  // C++20 has no erase(string_view)
    }
    --node_count_;
  }
}

}  // namespace herald::core
