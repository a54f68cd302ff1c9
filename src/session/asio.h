// Include this instead of <boost/asio.hpp>.
//
// Note: Boost 1.74's awaitable.hpp uses std::exchange without including
// <utility>, which g++ 12 in C++20 mode rejects (TOOLCHAIN.md).
#pragma once

// clang-format off
#include <utility>
#include <boost/asio.hpp>
// clang-format on

namespace herald {
namespace asio = boost::asio;
using tcp = boost::asio::ip::tcp;
}  // namespace herald
