#include "core/base/unix_http_client.h"

#include <utility>  // before Asio: Boost 1.74 needs std::exchange declared (GCC 12, C++20)

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

namespace banger::core {
namespace asio = boost::asio;
namespace http = boost::beast::http;

HttpCallResult UnixHttpCall(const std::string& socket_path, const std::string& method,
                            const std::string& target, const std::string& body,
                            std::chrono::milliseconds timeout) {
  return UnixHttpStream(socket_path, method, target, body, timeout, {});
}

HttpCallResult UnixHttpStream(const std::string& socket_path, const std::string& method,
                              const std::string& target, const std::string& body,
                              std::chrono::milliseconds timeout,
                              const std::function<void(std::string_view)>& on_chunk) {
  HttpCallResult result;
  asio::io_context io;
  asio::local::stream_protocol::socket socket(io);
  boost::beast::flat_buffer buffer;
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, "localhost");
  req.set(http::field::user_agent, "banger");
  req.set(http::field::accept, "application/json");
  if (!body.empty()) req.set(http::field::content_type, "application/json");
  req.body() = body;
  req.keep_alive(false);
  req.prepare_payload();
  http::response_parser<http::string_body> parser;
  parser.body_limit(64u << 20);
  // Chunked bodies go to the caller as they arrive (and are not kept). The
  // parser holds the callback by reference: it lives as long as the parser.
  auto forward = [&](std::uint64_t, boost::beast::string_view data,
                     boost::system::error_code&) -> std::size_t {
    on_chunk(std::string_view(data.data(), data.size()));
    return data.size();
  };
  if (on_chunk) parser.on_chunk_body(forward);

  boost::system::error_code failure;
  const char* stage = "connect";
  bool done = false;
  auto fail = [&](boost::system::error_code ec) {
    failure = ec;
    done = true;
  };
  socket.async_connect(
      asio::local::stream_protocol::endpoint(socket_path), [&](boost::system::error_code ec) {
        if (ec) return fail(ec);
        stage = "send";
        http::async_write(socket, req, [&](boost::system::error_code ec, size_t) {
          // A server may answer before it has read the request (a refused
          // peer, a request too large) and close: its answer is still there
          // to read.
          bool answered_early =
              ec == asio::error::broken_pipe || ec == asio::error::connection_reset;
          if (ec && !answered_early) return fail(ec);
          stage = "receive";
          http::async_read(socket, buffer, parser, [&](boost::system::error_code ec, size_t) {
            if (ec) return fail(ec);
            done = true;
          });
        });
      });
  io.run_for(timeout);
  if (!done) {
    result.failure = HttpFailure::kTimeout;
    result.error = std::string("no reply within ") + std::to_string(timeout.count()) +
                   " ms (stuck at " + stage + ")";
    return result;
  }
  if (failure) {
    namespace errc = boost::system::errc;
    if (failure == errc::no_such_file_or_directory) {
      result.failure = HttpFailure::kNoSocket;
      result.error = "no socket at " + socket_path;
    } else if (failure == errc::connection_refused) {
      result.failure = HttpFailure::kRefused;
      result.error = "connection refused on " + socket_path + " (nothing is listening)";
    } else if (std::string(stage) != "connect" &&
               (failure == asio::error::eof || failure == http::error::end_of_stream ||
                failure == http::error::partial_message || failure == errc::connection_reset ||
                failure == errc::broken_pipe)) {
      result.failure = HttpFailure::kClosed;
      result.error = std::string("connection closed by the server during ") + stage;
    } else {
      result.failure = HttpFailure::kOther;
      result.error = std::string(stage) + " on " + socket_path + ": " + failure.message();
    }
    return result;
  }
  result.reply.status = static_cast<int>(parser.get().result_int());
  result.reply.body = std::move(parser.get().body());
  return result;
}

}  // namespace banger::core
