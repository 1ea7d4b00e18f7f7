#include "acme/client/solver.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <thread>
#include <vector>

#include "acme/client/helpers.h"
#include "core/log.h"
#include "net/server.h"

extern char** environ;

namespace autoseal::acme::client {

// ---- http-01 ----

namespace {
constexpr std::string_view kWellKnown = "/.well-known/acme-challenge/";
}

Result<std::unique_ptr<Http01Solver>> Http01Solver::Create(const std::string& listen_address) {
  std::unique_ptr<Http01Solver> s(new Http01Solver());
  net::HttpServerOptions o;
  o.listen_address = listen_address;
  o.threads = 2;
  o.max_body_bytes = 1024;
  o.header_timeout = std::chrono::seconds(5);
  o.shutdown_timeout = std::chrono::seconds(1);
  std::shared_ptr<Tokens> tokens = s->tokens_;
  // RFC 8555 §8.3: the response body is the key authorization; the server looks only at the path
  // (the Host header names the identifier being validated, any is fine here).
  auto handler = [tokens](const net::HttpRequest& req) {
    std::string_view path = req.Path();
    if ((req.method == "GET" || req.method == "HEAD") && path.starts_with(kWellKnown)) {
      std::string token(path.substr(kWellKnown.size()));
      std::lock_guard lock(tokens->mutex);
      auto it = tokens->by_token.find(token);
      if (it != tokens->by_token.end())
        return net::HttpResponse::Make(200, "application/octet-stream", it->second);
    }
    return net::HttpResponse::Text(404, "not found\n");
  };
  s->server_ = TRY_CONTEXT(net::HttpServer::Create(o, handler), "http-01 solver");
  s->server_->Start();
  return s;
}

Http01Solver::~Http01Solver() {
  if (server_) server_->Stop();
}

Status Http01Solver::Present(const ChallengeInfo& c) {
  std::lock_guard lock(tokens_->mutex);
  tokens_->by_token[c.token] = c.key_authorization;
  return Ok();
}

Status Http01Solver::CleanUp(const ChallengeInfo& c) {
  std::lock_guard lock(tokens_->mutex);
  tokens_->by_token.erase(c.token);
  return Ok();
}

std::string Http01Solver::LocalAddress() const { return server_->LocalAddress(); }

// ---- dns-01 through an exec hook ----

Status Dns01ExecSolver::Present(const ChallengeInfo& c) {
  TRY(Run("present", c));
  if (propagation_delay_.count() > 0) std::this_thread::sleep_for(propagation_delay_);
  return Ok();
}

Status Dns01ExecSolver::CleanUp(const ChallengeInfo& c) { return Run("cleanup", c); }

Status Dns01ExecSolver::Run(std::string_view action, const ChallengeInfo& c) const {
  std::string fqdn = Dns01RecordName(c.identifier.value);
  std::string value = Dns01TxtValue(c.key_authorization);
  std::string what = "dns hook " + program_ + " " + std::string(action) + " " + fqdn;
  int err_pipe[2];
  if (pipe2(err_pipe, O_CLOEXEC) != 0) return Fail(ErrorCode::kIo, what + ": pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  std::string act(action);
  std::vector<char*> argv = {const_cast<char*>(program_.c_str()), act.data(), fqdn.data(),
                             value.data(), nullptr};
  pid_t pid = 0;
  int rc = posix_spawn(&pid, program_.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(err_pipe[1]);
  if (rc != 0) {
    close(err_pipe[0]);
    return Fail(ErrorCode::kIo, what + ": cannot run: " + std::strerror(rc));
  }
  std::string err;
  auto deadline = std::chrono::steady_clock::now() + timeout_;
  bool open = true;
  int status = 0;
  bool exited = false;
  while (true) {
    if (open) {
      pollfd p{err_pipe[0], POLLIN, 0};
      if (poll(&p, 1, 50) > 0) {
        char buf[1024];
        ssize_t n = read(err_pipe[0], buf, sizeof buf);
        if (n > 0) {
          err.append(buf, static_cast<size_t>(n));
          if (err.size() > 4096) err.erase(0, err.size() - 4096);  // keep the tail
        } else {
          open = false;
        }
      }
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) {
      exited = true;
      if (!open) break;
      // Drain what is left without blocking forever on a grandchild holding the pipe.
      pollfd p{err_pipe[0], POLLIN, 0};
      while (poll(&p, 1, 100) > 0) {
        char buf[1024];
        ssize_t n = read(err_pipe[0], buf, sizeof buf);
        if (n <= 0) break;
        err.append(buf, static_cast<size_t>(n));
      }
      break;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      close(err_pipe[0]);
      return Fail(ErrorCode::kTimeout, what + ": still running after " +
                                           std::to_string(timeout_.count() / 1000) + " s, killed");
    }
  }
  close(err_pipe[0]);
  (void)exited;
  while (!err.empty() && (err.back() == '\n' || err.back() == '\r')) err.pop_back();
  size_t nl = err.rfind('\n');
  std::string tail = nl == std::string::npos ? err : err.substr(nl + 1);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Ok();
  std::string how = WIFEXITED(status) ? "exited with " + std::to_string(WEXITSTATUS(status))
                                      : "killed by signal " + std::to_string(WTERMSIG(status));
  return Fail(ErrorCode::kIo, what + ": " + how + (tail.empty() ? "" : ": " + tail));
}

}  // namespace autoseal::acme::client
