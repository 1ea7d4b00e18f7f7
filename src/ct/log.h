#pragma once

// The CT log itself: durable storage (SQLite, WAL, synchronous=FULL), a pool of pending
// submissions sequenced in batches by one thread, the in-memory Merkle tree, signed tree heads,
// and the static-ct-api read path written as plain files (checkpoint, tiles, data tiles,
// issuers). An SCT exists only for an entry that is stored and sequenced: the batch's database
// transaction commits before any callback runs. Thread-safe.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "core/error.h"
#include "crypto/key.h"
#include "ct/chain.h"
#include "ct/internal/identity_filter.h"
#include "ct/merkle.h"
#include "ct/sct.h"
#include "store/database.h"

namespace autoseal::ct {

struct LogOptions {
  // The log keeps log.key, ct.db and static/ in this directory (created if missing).
  std::string dir;
  // Checkpoint origin line: the submission prefix without scheme or trailing slash (static-ct-api),
  // e.g. "127.0.0.1:6962".
  std::string origin = "localhost";
  crypto::KeyType key_type = crypto::KeyType::kEcdsaP256;
  // How often pooled submissions are sequenced (static-ct-api logs commonly use ≤ 1 s).
  std::chrono::milliseconds period{300};
  // Pending submissions beyond this are refused (HTTP 503) until the next batch.
  size_t max_pool = 50000;
  // A fresh tree head is signed at least this often even without new entries (the MMD).
  std::chrono::milliseconds max_sth_age{std::chrono::seconds(60)};
  const Clock* clock = &SystemClock::Instance();
};

// A signed tree head (RFC 6962 §3.5).
struct SignedTreeHead {
  uint64_t tree_size = 0;
  uint64_t timestamp_ms = 0;
  Hash root{};
  Bytes signature;  // DigitallySigned
};

// One entry as get-entries returns it (RFC 6962 §4.6).
struct LogEntry {
  Bytes leaf_input;  // MerkleTreeLeaf
  Bytes extra_data;  // certificate_chain, or PrecertChainEntry
};

// The outcome of a submission: the SCT (the original one for a duplicate), or an error (kPolicy
// for a full pool, kDatabase when the batch could not be stored).
using SubmitCallback = std::function<void(Result<SignedCertificateTimestamp>)>;

class Log {
 public:
  // Opens or creates the log under options.dir: loads or generates the key (0600, never
  // replaced), opens the database, rebuilds the tree from it, repairs the static files, and
  // signs a first tree head for a new log. Does not start sequencing.
  static Result<std::unique_ptr<Log>> Open(LogOptions options);
  ~Log();  // stops the sequencer; pending submissions fail

  void Start();  // starts the sequencer thread
  void Stop();   // sequences what is pending, then stops; idempotent

  // Queues an accepted chain. cb runs exactly once: at once for a duplicate of a sequenced entry
  // or a full pool, else from the sequencer thread after the batch is durable.
  void Submit(AcceptedChain chain, SubmitCallback cb);

  SignedTreeHead LatestTreeHead() const;
  const LogSigner& signer() const { return *signer_; }
  const std::string& static_dir() const { return static_dir_; }
  // The current checkpoint (signed note), as served at <prefix>/checkpoint.
  std::string Checkpoint() const;

  // RFC 6962 §4.4: consistency proof between tree sizes; kInvalidArgument if out of range.
  Result<std::vector<Hash>> ConsistencyProof(uint64_t first, uint64_t second) const;
  // RFC 6962 §4.5: the leaf's index and audit path in the tree of tree_size. kNotFound when the
  // hash is not in that tree.
  Result<std::pair<uint64_t, std::vector<Hash>>> ProofByHash(const Hash& leaf_hash,
                                                             uint64_t tree_size) const;
  Result<std::vector<Hash>> InclusionProof(uint64_t index, uint64_t tree_size) const;
  // RFC 6962 §4.6: entries start..end inclusive, at most max_entries of them.
  Result<std::vector<LogEntry>> GetEntries(uint64_t start, uint64_t end,
                                           size_t max_entries = 256) const;

  // Waits until every submission made before the call has been sequenced (tests).
  void Flush();

 private:
  struct Pending {
    AcceptedChain chain;
    std::vector<SubmitCallback> callbacks;
  };
  Log() = default;
  Status Load();
  Status SignTreeHead(uint64_t timestamp_ms, bool store);
  Status PublishHead(const SignedTreeHead& head);
  void Run();
  void SequenceBatch(std::vector<std::unique_ptr<Pending>> batch);
  Result<std::optional<SignedCertificateTimestamp>> FindSequenced(const Hash& identity) const;
  Status WriteStatic(uint64_t old_size, uint64_t new_size, bool repair);
  Status WriteDataTiles(uint64_t old_size, uint64_t new_size, bool repair);
  Result<Bytes> ExtraData(ByteView precert, ByteView chain_fps) const;
  Bytes TileLeaf(const Bytes& leaf_input, ByteView precert, ByteView chain_fps) const;

  LogOptions options_;
  std::string static_dir_;
  std::optional<LogSigner> signer_;
  std::unique_ptr<store::Database> db_;       // the sequencer's writes
  std::unique_ptr<store::Database> read_db_;  // readers (WAL: never blocked by the writer)

  mutable std::shared_mutex tree_mu_;
  MerkleTree tree_;
  SignedTreeHead sth_;  // guarded by tree_mu_
  std::string checkpoint_;

  struct HashKey {
    size_t operator()(const Hash& h) const;  // the hash's first bytes: SHA-256 is uniform
  };

  mutable std::shared_mutex issuers_mu_;
  std::unordered_map<Hash, Bytes, HashKey> issuers_;  // fingerprint → DER

  std::mutex pool_mu_;
  std::condition_variable pool_cv_;
  std::vector<std::unique_ptr<Pending>> pool_;
  std::unordered_map<Hash, Pending*, HashKey> pending_by_identity_;  // pool + in sequencing
  // The identities of the sequenced entries, so that a submission that is not a duplicate (the
  // usual case) needs no database lookup. Guarded by pool_mu_.
  internal::IdentityFilter sequenced_identities_;
  uint64_t submitted_ = 0, sequenced_ = 0;  // batches accounting for Flush
  std::condition_variable flushed_cv_;
  bool stopping_ = false;
  bool flush_requested_ = false;
  bool started_ = false;
  // TileLeaf encodings of the entries in the current, incomplete data tile (sequencer thread).
  std::vector<Bytes> data_tile_;
  int lock_fd_ = -1;  // flock on <dir>/lock: one sequencer per log directory
  std::thread thread_;
};

// static-ct-api tile index path: 1234067 → "x001/x234/067".
std::string TileIndexPath(uint64_t n);

}  // namespace autoseal::ct
