#pragma once

// A server-side TLS connection that OpenSSL drives directly on the socket's descriptor
// (non-blocking socket BIO), exposing the Asio AsyncReadStream/AsyncWriteStream interface that
// Beast needs. Unlike asio::ssl::stream it keeps no BIO pair and no 17 KiB staging buffers per
// connection and copies nothing on the way: with SSL_MODE_RELEASE_BUFFERS an idle connection
// holds only OpenSSL's session state. Private to gateway/ (included by proxy.cc only).

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <boost/asio/append.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/system/error_code.hpp>
#include <cerrno>
#include <cstring>

namespace autoseal::gateway::internal {

class TlsStream {
 public:
  using tcp = boost::asio::ip::tcp;
  using socket_type = boost::asio::basic_stream_socket<tcp, boost::asio::io_context::executor_type>;
  using executor_type = socket_type::executor_type;
  using error_code = boost::system::error_code;

  // Takes the socket (made non-blocking) and ssl (owned; set up for accepting on the socket).
  TlsStream(socket_type socket, SSL* ssl) : socket_(std::move(socket)), ssl_(ssl) {
    error_code ignored;
    socket_.non_blocking(true, ignored);
    SSL_set_fd(ssl_, static_cast<int>(socket_.native_handle()));
    SSL_set_accept_state(ssl_);
  }
  ~TlsStream() { SSL_free(ssl_); }
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  executor_type get_executor() { return socket_.get_executor(); }
  socket_type& next_layer() { return socket_; }
  SSL* native_handle() { return ssl_; }

  // Runs the server handshake; completion signature void(error_code).
  template <class Token>
  auto async_handshake(Token&& token) {
    return boost::asio::async_compose<Token, void(error_code)>(HandshakeOp{this}, token, socket_);
  }

  // One SSL_read_ex or SSL_write_ex now, without the reactor: the coroutine that calls these
  // resumes no handler and posts nothing when the bytes are already there (or the socket can
  // take them). would_block when OpenSSL needs the socket to become readable or writable (then
  // the async_* form finishes the job); eof at the end of the stream. A write is all or nothing
  // (no SSL_MODE_ENABLE_PARTIAL_WRITE): after would_block the same bytes go to async_write_some.
  error_code TryRead(void* data, size_t size, size_t& n) {
    return TryIo(false, data, size, n);
  }
  error_code TryWrite(const void* data, size_t size, size_t& n) {
    return TryIo(true, const_cast<void*>(data), size, n);
  }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return boost::asio::async_compose<Token, void(error_code, size_t)>(
        IoOp<MutableBuffers, false>{this, buffers}, token, socket_);
  }

  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return boost::asio::async_compose<Token, void(error_code, size_t)>(
        IoOp<ConstBuffers, true>{this, buffers}, token, socket_);
  }

 private:
  // Maps a failed OpenSSL call's SSL_get_error code to an error_code; 0 means "wait".
  enum class Wait { kNone, kRead, kWrite };
  static Wait WaitFor(int ssl_error) {
    if (ssl_error == SSL_ERROR_WANT_READ) return Wait::kRead;
    if (ssl_error == SSL_ERROR_WANT_WRITE) return Wait::kWrite;
    return Wait::kNone;
  }
  static error_code ErrorFor(int ssl_error) {
    if (ssl_error == SSL_ERROR_ZERO_RETURN) return boost::asio::error::eof;
    if (ssl_error == SSL_ERROR_SYSCALL) {
      int e = errno;
      ERR_clear_error();
      // A peer that closes without close_notify: treat as end of stream.
      if (e == 0) return boost::asio::error::eof;
      return error_code(e, boost::system::system_category());
    }
    unsigned long err = ERR_get_error();
    ERR_clear_error();
    if (err == 0) return boost::asio::error::connection_reset;
    return error_code(static_cast<int>(err), boost::asio::error::get_ssl_category());
  }

  // SSL_get_error needs an empty error queue before the call; a look is cheaper than a clear,
  // and the queue is nearly always empty (every failure here drains it).
  static void ClearErrors() {
    if (ERR_peek_error() != 0) ERR_clear_error();
  }

  error_code TryIo(bool write, void* data, size_t size, size_t& n) {
    n = 0;
    if (!socket_.is_open()) return boost::asio::error::bad_descriptor;
    ClearErrors();
    int r = write ? SSL_write_ex(ssl_, data, size, &n) : SSL_read_ex(ssl_, data, size, &n);
    if (r == 1) return error_code();
    int e = SSL_get_error(ssl_, r);
    if (WaitFor(e) != Wait::kNone) return boost::asio::error::would_block;
    return ErrorFor(e);
  }

  template <class Self>
  void WaitThen(Self& self, Wait wait) {
    socket_.async_wait(wait == Wait::kRead ? socket_type::wait_read : socket_type::wait_write,
                       std::move(self));
  }

  struct HandshakeOp {
    TlsStream* stream;
    template <class Self>
    void operator()(Self& self, error_code ec = {}) {
      if (ec) return self.complete(ec);
      // The SSL* holds the descriptor number from SSL_set_fd: once the socket is closed that
      // number may already belong to another connection, so OpenSSL must not touch it.
      if (!stream->socket_.is_open()) return self.complete(boost::asio::error::bad_descriptor);
      ERR_clear_error();
      int r = SSL_do_handshake(stream->ssl_);
      if (r == 1) return self.complete(error_code());
      int e = SSL_get_error(stream->ssl_, r);
      Wait wait = WaitFor(e);
      if (wait == Wait::kNone) return self.complete(ErrorFor(e));
      stream->WaitThen(self, wait);
    }
  };

  // One SSL_read or SSL_write on the first non-empty buffer (several small write buffers, such
  // as a header and a body piece, are gathered into one record through a scratch buffer).
  // A result available at once is delivered through a post, as Asio requires of initiating
  // functions.
  template <class Buffers, bool kWrite>
  struct IoOp {
    TlsStream* stream;
    Buffers buffers;
    bool waited = false;
    bool done = false;
    error_code result_ec{};
    size_t result_n = 0;

    template <class Self>
    void operator()(Self& self, error_code ec = {}) {
      if (done) return self.complete(result_ec, result_n);
      if (ec) return self.complete(ec, 0);
      // One pass: the first non-empty buffer, or (writing) up to a record's worth gathered
      // from several into the scratch buffer.
      const char* data = nullptr;
      size_t size = 0;
      size_t gathered = 0;
      size_t count = 0;
      for (auto it = boost::asio::buffer_sequence_begin(buffers);
           it != boost::asio::buffer_sequence_end(buffers); ++it) {
        boost::asio::const_buffer b(*it);
        if (b.size() == 0) continue;
        if (count++ == 0) {
          data = static_cast<const char*>(b.data());
          size = b.size();
          if constexpr (!kWrite) break;
          if (size >= kScratchBytes) break;
        }
        if constexpr (kWrite) {
          size_t take = std::min(b.size(), kScratchBytes - gathered);
          std::memcpy(Scratch() + gathered, b.data(), take);
          gathered += take;
          if (gathered == kScratchBytes) break;
        }
      }
      // As in HandshakeOp: a closed socket's descriptor number may have been reused.
      if (!stream->socket_.is_open()) return Finish(self, boost::asio::error::bad_descriptor, 0);
      if (count == 0) return Finish(self, error_code(), 0);
      if constexpr (kWrite) {
        if (count > 1) {
          // Gathered: a header and a body piece go out as one record, not one each.
          data = Scratch();
          size = gathered;
        }
        size_t n = 0;
        ClearErrors();
        int r = SSL_write_ex(stream->ssl_, data, size, &n);
        if (r == 1) return Finish(self, error_code(), n);
        int e = SSL_get_error(stream->ssl_, r);
        Wait wait = WaitFor(e);
        if (wait == Wait::kNone) return Finish(self, ErrorFor(e), 0);
        waited = true;
        stream->WaitThen(self, wait);
      } else {
        size_t n = 0;
        ClearErrors();
        int r = SSL_read_ex(stream->ssl_, const_cast<char*>(data), size, &n);
        if (r == 1) return Finish(self, error_code(), n);
        int e = SSL_get_error(stream->ssl_, r);
        Wait wait = WaitFor(e);
        if (wait == Wait::kNone) return Finish(self, ErrorFor(e), 0);
        waited = true;
        stream->WaitThen(self, wait);
      }
    }

    template <class Self>
    void Finish(Self& self, error_code ec, size_t n) {
      if (waited) return self.complete(ec, n);
      done = true;
      result_ec = ec;
      result_n = n;
      boost::asio::post(std::move(self));
    }
  };

  // One TLS record's worth of plaintext, shared by the connections of one thread.
  static constexpr size_t kScratchBytes = 16 * 1024;
  static char* Scratch() {
    thread_local char scratch[kScratchBytes];
    return scratch;
  }

  socket_type socket_;
  SSL* ssl_;
};

}  // namespace autoseal::gateway::internal
