#include "ct/log.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <system_error>
#include <thread>

#include "core/file.h"
#include "core/log.h"
#include "crypto/digest.h"
#include "store/sqlite.h"

namespace autoseal::ct {
namespace {

constexpr store::Migration kMigrations[] = {
    {1,
     "CREATE TABLE entries(idx INTEGER PRIMARY KEY, identity BLOB NOT NULL, leaf_hash BLOB NOT "
     "NULL,"
     " leaf_input BLOB NOT NULL, precert BLOB, chain BLOB NOT NULL, signature BLOB NOT NULL);"
     "CREATE INDEX entries_identity ON entries(identity);"
     "CREATE INDEX entries_leaf_hash ON entries(leaf_hash);"
     "CREATE TABLE issuers(fingerprint BLOB PRIMARY KEY, der BLOB NOT NULL) WITHOUT ROWID;"
     "CREATE TABLE tree_heads(tree_size INTEGER PRIMARY KEY, timestamp INTEGER NOT NULL,"
     " root BLOB NOT NULL, signature BLOB NOT NULL);"},
};

constexpr size_t kTileWidth = 256;
// Batches at least this large are signed by two threads (below it a thread costs more than it
// saves).
constexpr size_t kParallelSigningMin = 64;
constexpr unsigned kTileLevels = 6;  // static-ct-api: L is 0..5

uint64_t NowMs(const Clock& clock) {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(clock.Now().time_since_epoch())
          .count());
}

// Out of line: g++ 12 reports false -Warray-bounds/-Wstringop-overflow for inlined vector growth.
[[gnu::noinline]] void Put(Bytes& out, uint64_t v, int n) {
  size_t old = out.size();
  out.resize(old + static_cast<size_t>(n));
  for (int i = 0; i < n; ++i)
    out[old + static_cast<size_t>(i)] = static_cast<uint8_t>(v >> (8 * (n - 1 - i)));
}

// Static files are derived data (the database is the record), so they are written with a
// rename for atomic visibility but without fsync; Load() rewrites whatever is missing.
Status WriteStaticFile(const std::string& path, ByteView data) {
  auto slash = path.rfind('/');
  TRY(MakeDirectories(path.substr(0, slash)));
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
    if (!f) return Fail(ErrorCode::kIo, "cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    return Fail(ErrorCode::kIo, "cannot rename " + tmp);
  return Ok();
}

std::string TilePath(const std::string& dir, const std::string& level, uint64_t n, uint64_t width) {
  std::string p = dir + "/tile/" + level + "/" + TileIndexPath(n);
  if (width != kTileWidth) p += ".p/" + std::to_string(width);
  return p;
}

}  // namespace

size_t Log::HashKey::operator()(const Hash& h) const {
  size_t v;
  std::memcpy(&v, h.data(), sizeof v);
  return v;
}

std::string TileIndexPath(uint64_t n) {
  std::vector<uint64_t> groups;
  do {
    groups.push_back(n % 1000);
    n /= 1000;
  } while (n > 0);
  std::string out;
  char buf[8];
  for (size_t i = groups.size(); i-- > 0;) {
    std::snprintf(buf, sizeof buf, i == 0 ? "%03llu" : "x%03llu/",
                  static_cast<unsigned long long>(groups[i]));
    out += buf;
  }
  return out;
}

Result<std::unique_ptr<Log>> Log::Open(LogOptions options) {
  std::unique_ptr<Log> log(new Log());
  log->options_ = std::move(options);
  const std::string& dir = log->options_.dir;
  TRY(MakeDirectories(dir, 0700));
  // Two sequencers on one directory would hand out SCTs for the same leaf indexes.
  log->lock_fd_ = ::open((dir + "/lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (log->lock_fd_ < 0) return Fail(ErrorCode::kIo, "cannot open " + dir + "/lock");
  if (::flock(log->lock_fd_, LOCK_EX | LOCK_NB) != 0)
    return Fail(ErrorCode::kAlreadyExists,
                "the log in " + dir + " is already open in another process or instance");
  std::string key_path = dir + "/log.key";
  std::optional<crypto::PrivateKey> key;
  if (FileExists(key_path)) {
    key = TRY(crypto::LoadPrivateKey(key_path));
  } else {
    key = TRY(crypto::PrivateKey::Generate(log->options_.key_type));
    TRY(crypto::SavePrivateKey(key_path, *key));
  }
  if (key->Type() && *key->Type() != log->options_.key_type)
    return Fail(ErrorCode::kInvalidArgument,
                key_path + " holds a " + key->Description() + " key, not the requested key type");
  log->signer_ = TRY(LogSigner::Create(*key));
  TRY(WriteFileAtomic(dir + "/log.pub.pem", key->Public().PublicKeyPem()));
  log->db_ = TRY(store::OpenSqlite(dir + "/ct.db", kMigrations));
  log->read_db_ = TRY(store::OpenSqlite(dir + "/ct.db", kMigrations));
  log->static_dir_ = dir + "/static";
  TRY(log->Load());
  return log;
}

Log::~Log() {
  Stop();
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

Status Log::Load() {
  // The tree, from the stored leaf hashes in index order.
  uint64_t next = 0;
  for (;;) {
    auto rows = TRY(read_db_->Query(
        "SELECT idx, leaf_hash, identity FROM entries WHERE idx >= ? ORDER BY idx LIMIT 100000",
        {static_cast<int64_t>(next)}));
    if (rows.empty()) break;
    for (const auto& row : rows) {
      int64_t idx = TRY(row.Int(0));
      if (static_cast<uint64_t>(idx) != next)
        return Fail(ErrorCode::kDatabase,
                    "log database has a gap at entry " + std::to_string(next));
      const Bytes* h = row[1].blob_if();
      if (h == nullptr || h->size() != 32)
        return Fail(ErrorCode::kDatabase, "bad leaf hash in the log database");
      tree_.Append(TRY(HashFromBytes(*h)));
      const Bytes* id = row[2].blob_if();
      if (id == nullptr || id->size() != 32)
        return Fail(ErrorCode::kDatabase, "bad identity in the log database");
      sequenced_identities_.Add(TRY(HashFromBytes(*id)));
      ++next;
    }
  }
  for (const auto& row : TRY(read_db_->Query("SELECT fingerprint, der FROM issuers")))
    issuers_[TRY(HashFromBytes(TRY(row.Blob(0))))] = TRY(row.Blob(1));
  auto head =
      TRY(read_db_->QueryRow("SELECT tree_size, timestamp, root, signature FROM tree_heads ORDER "
                             "BY tree_size DESC, timestamp DESC LIMIT 1"));
  if (head) {
    sth_.tree_size = static_cast<uint64_t>(TRY(head->Int(0)));
    sth_.timestamp_ms = static_cast<uint64_t>(TRY(head->Int(1)));
    sth_.root = TRY(HashFromBytes(TRY(head->Blob(2))));
    sth_.signature = TRY(head->Blob(3));
    // Entries and their tree head are written in one transaction, so they always agree.
    if (sth_.tree_size != tree_.size())
      return Fail(ErrorCode::kDatabase, "log database: latest tree head size " +
                                            std::to_string(sth_.tree_size) + " but " +
                                            std::to_string(tree_.size()) + " entries");
    if (tree_.Root(sth_.tree_size) != sth_.root)
      return Fail(ErrorCode::kDatabase,
                  "log database: stored entries do not match the signed root");
    checkpoint_.clear();
    TRY(SignTreeHead(std::max(NowMs(*options_.clock), sth_.timestamp_ms + 1), true));
  } else {
    if (tree_.size() != 0)
      return Fail(ErrorCode::kDatabase, "log database has entries but no tree head");
    TRY(SignTreeHead(NowMs(*options_.clock), true));
  }
  TRY(WriteStatic(0, tree_.size(), true));
  TRY(WriteDataTiles(0, tree_.size(), true));
  return Ok();
}

Status Log::SignTreeHead(uint64_t timestamp_ms, bool store) {
  // Re-signs the current tree (a new log, a restart, or an idle refresh).
  SignedTreeHead h;
  {
    std::shared_lock lock(tree_mu_);
    h.tree_size = sth_.tree_size == 0 && tree_.size() != 0 ? tree_.size() : sth_.tree_size;
    h.root = tree_.Root(h.tree_size);
  }
  h.timestamp_ms = timestamp_ms;
  h.signature = TRY(
      signer_->SignDigitallySigned(TreeHeadSignatureInput(h.timestamp_ms, h.tree_size, h.root)));
  if (store)
    TRY(db_->Execute(
        "INSERT OR REPLACE INTO tree_heads(tree_size, timestamp, root, signature) VALUES(?,?,?,?)",
        {static_cast<int64_t>(h.tree_size), static_cast<int64_t>(h.timestamp_ms), ToBytes(h.root),
         h.signature}));
  return PublishHead(h);
}

Status Log::PublishHead(const SignedTreeHead& h) {
  // static-ct-api checkpoint: a signed note whose signature is an RFC6962NoteSignature (type
  // 0x05): uint64 timestamp || TreeHeadSignature; key ID = SHA-256(origin || 0x0A || 0x05 ||
  // log ID)[:4]. The origin line is not covered by the signature.
  std::string body =
      options_.origin + "\n" + std::to_string(h.tree_size) + "\n" + Base64Encode(h.root) + "\n";
  Bytes key_id_input(options_.origin.begin(), options_.origin.end());
  key_id_input.push_back('\n');
  key_id_input.push_back(0x05);
  key_id_input.insert(key_id_input.end(), signer_->log_id().begin(), signer_->log_id().end());
  Bytes key_id = crypto::Digest(crypto::DigestAlgorithm::kSha256, key_id_input);
  Bytes sig(key_id.begin(), key_id.begin() + 4);
  Put(sig, h.timestamp_ms, 8);
  sig.insert(sig.end(), h.signature.begin(), h.signature.end());
  std::string note = body + "\n\xe2\x80\x94 " + options_.origin + " " + Base64Encode(sig) + "\n";
  {
    std::unique_lock lock(tree_mu_);
    sth_ = h;
    checkpoint_ = note;
  }
  return WriteStaticFile(static_dir_ + "/checkpoint", AsBytes(note));
}

SignedTreeHead Log::LatestTreeHead() const {
  std::shared_lock lock(tree_mu_);
  return sth_;
}

std::string Log::Checkpoint() const {
  std::shared_lock lock(tree_mu_);
  return checkpoint_;
}

void Log::Start() {
  std::lock_guard lock(pool_mu_);
  if (started_) return;
  started_ = true;
  thread_ = std::thread([this] { Run(); });
}

void Log::Stop() {
  {
    std::lock_guard lock(pool_mu_);
    if (!started_ || stopping_) {
      stopping_ = true;
      if (!thread_.joinable()) return;
    }
    stopping_ = true;
  }
  pool_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  // Anything still pooled (never started) fails.
  std::vector<std::unique_ptr<Pending>> left;
  {
    std::lock_guard lock(pool_mu_);
    left.swap(pool_);
    pending_by_identity_.clear();
  }
  for (auto& p : left)
    for (auto& cb : p->callbacks) cb(Fail(ErrorCode::kUnsupported, "log is shutting down"));
}

void Log::Flush() {
  std::unique_lock lock(pool_mu_);
  uint64_t want = submitted_;
  flush_requested_ = true;
  pool_cv_.notify_all();
  flushed_cv_.wait(lock, [&] { return sequenced_ >= want || !started_ || stopping_; });
}

Result<std::optional<SignedCertificateTimestamp>> Log::FindSequenced(const Hash& identity) const {
  auto row = TRY(read_db_->QueryRow(
      "SELECT idx, leaf_input, signature FROM entries WHERE identity = ? LIMIT 1",
      {ToBytes(identity)}));
  if (!row) return std::optional<SignedCertificateTimestamp>();
  SignedCertificateTimestamp sct;
  uint64_t idx = static_cast<uint64_t>(TRY(row->Int(0)));
  const Bytes* leaf = (*row)[1].blob_if();
  if (leaf == nullptr || leaf->size() < 10) return Fail(ErrorCode::kDatabase, "bad stored leaf");
  for (int i = 2; i < 10; ++i) sct.timestamp_ms = (sct.timestamp_ms << 8) | (*leaf)[i];
  sct.log_id = signer_->log_id();
  sct.extensions = LeafIndexExtension(idx);
  sct.signature = TRY(row->Blob(2));
  return std::optional<SignedCertificateTimestamp>(std::move(sct));
}

void Log::Submit(AcceptedChain chain, SubmitCallback cb) {
  const Hash id = chain.identity;
  std::unique_lock lock(pool_mu_);
  if (stopping_) {
    lock.unlock();
    cb(Fail(ErrorCode::kUnsupported, "log is shutting down"));
    return;
  }
  if (auto it = pending_by_identity_.find(id); it != pending_by_identity_.end()) {
    it->second->callbacks.push_back(std::move(cb));  // same entry, same SCT
    return;
  }
  // RFC 6962 §4 / Chrome log policy: a resubmission gets the existing SCT. Checked under the pool
  // lock so that an entry cannot leave "pending" between this lookup and the one above.
  auto existing = sequenced_identities_.MayContain(id)
                      ? FindSequenced(id)
                      : Result<std::optional<SignedCertificateTimestamp>>(std::nullopt);
  if (!existing || *existing) {
    lock.unlock();
    if (!existing)
      cb(Fail(existing.error()));
    else
      cb(std::move(**existing));
    return;
  }
  if (pool_.size() >= options_.max_pool) {
    lock.unlock();
    cb(Fail(ErrorCode::kPolicy, "log is busy: too many pending submissions, retry shortly"));
    return;
  }
  auto p = std::make_unique<Pending>();
  p->chain = std::move(chain);
  p->callbacks.push_back(std::move(cb));
  pending_by_identity_[id] = p.get();
  pool_.push_back(std::move(p));
  ++submitted_;
}

void Log::Run() {
  std::unique_lock lock(pool_mu_);
  auto next = std::chrono::steady_clock::now() + options_.period;
  auto last_sth = std::chrono::steady_clock::now();
  for (;;) {
    pool_cv_.wait_until(lock, next, [&] { return stopping_ || flush_requested_; });
    flush_requested_ = false;
    next = std::chrono::steady_clock::now() + options_.period;
    std::vector<std::unique_ptr<Pending>> batch;
    batch.swap(pool_);
    bool stop = stopping_;
    lock.unlock();
    if (!batch.empty()) {
      SequenceBatch(std::move(batch));
      last_sth = std::chrono::steady_clock::now();
    } else if (std::chrono::steady_clock::now() - last_sth >= options_.max_sth_age) {
      uint64_t ts = std::max(NowMs(*options_.clock), LatestTreeHead().timestamp_ms + 1);
      if (auto st = SignTreeHead(ts, true); !st)
        autoseal::Log(LogLevel::kError, "ct: tree head refresh failed",
                      {{"error", st.error().message()}});
      last_sth = std::chrono::steady_clock::now();
    }
    lock.lock();
    flushed_cv_.notify_all();
    if (stop && pool_.empty()) break;
  }
}

Bytes Log::TileLeaf(const Bytes& leaf_input, ByteView precert, ByteView chain_fps) const {
  Bytes out(leaf_input.begin() + 2, leaf_input.end());  // the TimestampedEntry
  if (!precert.empty()) {
    Put(out, precert.size(), 3);
    out.insert(out.end(), precert.begin(), precert.end());
  }
  Put(out, chain_fps.size(), 2);
  out.insert(out.end(), chain_fps.begin(), chain_fps.end());
  return out;
}

void Log::SequenceBatch(std::vector<std::unique_ptr<Pending>> batch) {
  struct Row {
    Bytes leaf;
    Hash leaf_hash;
    Bytes signature;
    Bytes chain_fps;
  };
  std::vector<Row> rows(batch.size());
  uint64_t base, ts;
  {
    std::shared_lock lock(tree_mu_);
    base = tree_.size();
    ts = std::max(NowMs(*options_.clock), sth_.timestamp_ms + 1);
  }
  // Leaves and SCT signatures: the signatures are most of a batch's CPU (ECDSA ~30 µs, SM2 ~340
  // µs each) and independent of each other, so a large batch is signed by two threads; with a
  // core free that halves the time every submission in the batch waits.
  auto sign_rows = [&](size_t from, size_t to) -> Status {
    for (size_t i = from; i < to; ++i) {
      Row& r = rows[i];
      r.leaf = EncodeMerkleTreeLeaf(ts, batch[i]->chain.entry, LeafIndexExtension(base + i));
      r.signature = TRY(signer_->SignDigitallySigned(r.leaf));
      r.leaf_hash = HashLeaf(r.leaf);
    }
    return Ok();
  };
  size_t mid = batch.size() >= kParallelSigningMin ? batch.size() / 2 : batch.size();
  Status second_half = Ok();
  std::thread helper;
  if (mid < batch.size()) {
    try {
      helper = std::thread([&] { second_half = sign_rows(mid, batch.size()); });
    } catch (const std::system_error&) {
      mid = batch.size();  // no thread to be had: sign everything here
    }
  }
  Status status = sign_rows(0, mid);
  if (helper.joinable()) helper.join();
  if (status && !second_half) status = second_half;
  std::vector<std::pair<Hash, const Bytes*>> new_issuers;
  if (status) {
    std::shared_lock lock(issuers_mu_);
    for (size_t i = 0; i < batch.size(); ++i) {
      const AcceptedChain& c = batch[i]->chain;
      Row& r = rows[i];
      for (size_t j = 0; j < c.issuers.size(); ++j) {
        r.chain_fps.insert(r.chain_fps.end(), c.issuers[j].begin(), c.issuers[j].end());
        if (!issuers_.contains(c.issuers[j])) {
          bool seen = false;
          for (const auto& n : new_issuers) seen = seen || n.first == c.issuers[j];
          if (!seen) new_issuers.emplace_back(c.issuers[j], c.issuer_ders[j].get());
        }
      }
    }
  }
  SignedTreeHead head;
  if (status) {
    std::unique_lock lock(tree_mu_);
    for (const auto& r : rows) tree_.Append(r.leaf_hash);
    head.tree_size = tree_.size();
    head.timestamp_ms = ts;
    head.root = tree_.Root(head.tree_size);
  }
  if (status) {
    auto sig = signer_->SignDigitallySigned(
        TreeHeadSignatureInput(head.timestamp_ms, head.tree_size, head.root));
    if (sig)
      head.signature = std::move(*sig);
    else
      status = Fail(sig.error());
  }
  if (status) {
    status = db_->Transaction([&](store::Database& db) -> Status {
      for (const auto& [fp, der] : new_issuers)
        TRY(db.Execute("INSERT OR IGNORE INTO issuers(fingerprint, der) VALUES(?, ?)",
                       {ToBytes(fp), ByteView(*der)}));
      for (size_t i = 0; i < rows.size(); ++i) {
        const AcceptedChain& c = batch[i]->chain;
        store::Value precert =
            c.precertificate.empty() ? store::Value() : store::Value(ByteView(c.precertificate));
        TRY(db.Execute(
            "INSERT INTO entries(idx, identity, leaf_hash, leaf_input, precert, chain, signature)"
            " VALUES(?,?,?,?,?,?,?)",
            {static_cast<int64_t>(base + i), ByteView(c.identity), ByteView(rows[i].leaf_hash),
             ByteView(rows[i].leaf), std::move(precert), ByteView(rows[i].chain_fps),
             ByteView(rows[i].signature)}));
      }
      TRY(
          db.Execute("INSERT OR REPLACE INTO tree_heads(tree_size, timestamp, root, signature) "
                     "VALUES(?,?,?,?)",
                     {static_cast<int64_t>(head.tree_size), static_cast<int64_t>(head.timestamp_ms),
                      ToBytes(head.root), head.signature}));
      return Ok();
    });
  }
  if (!status) {
    autoseal::Log(LogLevel::kError, "ct: sequencing failed", {{"error", status.error().message()}});
    {
      std::unique_lock lock(tree_mu_);
      tree_.Truncate(base);
    }
    std::lock_guard lock(pool_mu_);
    for (auto& p : batch) {
      pending_by_identity_.erase(p->chain.identity);
      for (auto& cb : p->callbacks)
        cb(Fail(ErrorCode::kDatabase, "the log could not store the entry"));
    }
    sequenced_ += batch.size();
    return;
  }
  {
    std::unique_lock lock(issuers_mu_);
    for (const auto& [fp, der] : new_issuers) issuers_[fp] = *der;
  }
  // The batch is durable: publish the tree head and static files, then hand out the SCTs.
  if (auto st = PublishHead(head); !st)
    autoseal::Log(LogLevel::kError, "ct: checkpoint write failed",
                  {{"error", st.error().message()}});
  for (const auto& [fp, der] : new_issuers)
    (void)WriteStaticFile(static_dir_ + "/issuer/" + HexEncode(fp), *der);
  for (size_t i = 0; i < batch.size(); ++i) {
    const AcceptedChain& c = batch[i]->chain;
    data_tile_.push_back(TileLeaf(rows[i].leaf, c.precertificate, rows[i].chain_fps));
    if (data_tile_.size() == kTileWidth) {
      Bytes tile;
      for (const auto& e : data_tile_) tile.insert(tile.end(), e.begin(), e.end());
      (void)WriteStaticFile(TilePath(static_dir_, "data", (base + i) / kTileWidth, kTileWidth),
                            tile);
      data_tile_.clear();
    }
  }
  if (!data_tile_.empty()) {
    Bytes tile;
    for (const auto& e : data_tile_) tile.insert(tile.end(), e.begin(), e.end());
    (void)WriteStaticFile(
        TilePath(static_dir_, "data", head.tree_size / kTileWidth, data_tile_.size()), tile);
  }
  if (auto st = WriteStatic(base, head.tree_size, false); !st)
    autoseal::Log(LogLevel::kError, "ct: tile write failed", {{"error", st.error().message()}});

  std::vector<std::pair<std::vector<SubmitCallback>, SignedCertificateTimestamp>> done;
  {
    std::lock_guard lock(pool_mu_);
    for (size_t i = 0; i < batch.size(); ++i) {
      // Known as sequenced before it stops being pending: Submit never misses it in between.
      sequenced_identities_.Add(batch[i]->chain.identity);
      pending_by_identity_.erase(batch[i]->chain.identity);
      SignedCertificateTimestamp sct;
      sct.log_id = signer_->log_id();
      sct.timestamp_ms = ts;
      sct.extensions = LeafIndexExtension(base + i);
      sct.signature = std::move(rows[i].signature);
      done.emplace_back(std::move(batch[i]->callbacks), std::move(sct));
    }
    sequenced_ += batch.size();
  }
  for (auto& [cbs, sct] : done)
    for (auto& cb : cbs) cb(sct);
}

Status Log::WriteStatic(uint64_t old_size, uint64_t new_size, bool repair) {
  // Merkle tiles: level L holds tree level 8L; read from the sequencer thread, the only writer.
  for (unsigned level = 0; level < kTileLevels; ++level) {
    unsigned h = 8 * level;
    uint64_t count_new = new_size >> h, count_old = repair ? 0 : old_size >> h;
    if (count_new == 0) break;
    std::string lname = std::to_string(level);
    for (uint64_t n = count_old / kTileWidth; n < count_new / kTileWidth; ++n) {
      std::string path = TilePath(static_dir_, lname, n, kTileWidth);
      if (repair && FileExists(path)) continue;
      Bytes tile;
      tile.reserve(kTileWidth * 32);
      for (uint64_t i = n * kTileWidth; i < (n + 1) * kTileWidth; ++i) {
        const Hash& x = tree_.Node(h, i);
        tile.insert(tile.end(), x.begin(), x.end());
      }
      TRY(WriteStaticFile(path, tile));
    }
    uint64_t w = count_new % kTileWidth;
    if (w != 0) {
      uint64_t n = count_new / kTileWidth;
      Bytes tile;
      for (uint64_t i = n * kTileWidth; i < n * kTileWidth + w; ++i) {
        const Hash& x = tree_.Node(h, i);
        tile.insert(tile.end(), x.begin(), x.end());
      }
      TRY(WriteStaticFile(TilePath(static_dir_, lname, n, w), tile));
    }
  }
  if (repair) {
    std::shared_lock lock(issuers_mu_);
    for (const auto& [fp, der] : issuers_) {
      std::string path = static_dir_ + "/issuer/" + HexEncode(fp);
      if (!FileExists(path)) TRY(WriteStaticFile(path, der));
    }
  }
  return Ok();
}

Status Log::WriteDataTiles(uint64_t old_size, uint64_t new_size, bool repair) {
  // Only used at load: rebuild missing full data tiles and the in-memory tail.
  (void)old_size;
  (void)repair;
  uint64_t full = new_size / kTileWidth;
  auto tile_rows = [&](uint64_t n, uint64_t width) -> Result<std::vector<Bytes>> {
    auto rows = TRY(read_db_->Query(
        "SELECT leaf_input, precert, chain FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx",
        {static_cast<int64_t>(n * kTileWidth), static_cast<int64_t>(n * kTileWidth + width)}));
    std::vector<Bytes> out;
    for (const auto& row : rows) {
      const Bytes* precert = row[1].blob_if();
      out.push_back(
          TileLeaf(TRY(row.Blob(0)), precert ? ByteView(*precert) : ByteView(), TRY(row.Blob(2))));
    }
    return out;
  };
  for (uint64_t n = 0; n < full; ++n) {
    std::string path = TilePath(static_dir_, "data", n, kTileWidth);
    if (FileExists(path)) continue;
    Bytes tile;
    for (const auto& e : TRY(tile_rows(n, kTileWidth))) tile.insert(tile.end(), e.begin(), e.end());
    TRY(WriteStaticFile(path, tile));
  }
  uint64_t w = new_size % kTileWidth;
  data_tile_ = w == 0 ? std::vector<Bytes>() : TRY(tile_rows(full, w));
  if (w != 0) {
    Bytes tile;
    for (const auto& e : data_tile_) tile.insert(tile.end(), e.begin(), e.end());
    TRY(WriteStaticFile(TilePath(static_dir_, "data", full, w), tile));
  }
  return Ok();
}

Result<std::vector<Hash>> Log::ConsistencyProof(uint64_t first, uint64_t second) const {
  std::shared_lock lock(tree_mu_);
  if (first == 0 || first > second || second > sth_.tree_size)
    return Fail(ErrorCode::kInvalidArgument, "need 0 < first <= second <= the current tree size " +
                                                 std::to_string(sth_.tree_size));
  return tree_.ConsistencyProof(first, second);
}

Result<std::vector<Hash>> Log::InclusionProof(uint64_t index, uint64_t tree_size) const {
  std::shared_lock lock(tree_mu_);
  if (tree_size > sth_.tree_size)
    return Fail(ErrorCode::kInvalidArgument,
                "tree_size is beyond the current tree size " + std::to_string(sth_.tree_size));
  if (index >= tree_size)
    return Fail(ErrorCode::kInvalidArgument, "leaf_index must be below tree_size");
  return tree_.InclusionProof(index, tree_size);
}

Result<std::pair<uint64_t, std::vector<Hash>>> Log::ProofByHash(const Hash& leaf_hash,
                                                                uint64_t tree_size) const {
  auto row = TRY(read_db_->QueryRow(
      "SELECT idx FROM entries WHERE leaf_hash = ? ORDER BY idx LIMIT 1", {ToBytes(leaf_hash)}));
  if (!row) return Fail(ErrorCode::kNotFound, "no entry with that leaf hash");
  uint64_t idx = static_cast<uint64_t>(TRY(row->Int(0)));
  if (idx >= tree_size)
    return Fail(ErrorCode::kNotFound, "the entry is not in the tree of that size");
  auto proof = TRY(InclusionProof(idx, tree_size));
  return std::make_pair(idx, std::move(proof));
}

Result<Bytes> Log::ExtraData(ByteView precert, ByteView chain_fps) const {
  Bytes chain;
  {
    std::shared_lock lock(issuers_mu_);
    for (size_t i = 0; i + 32 <= chain_fps.size(); i += 32) {
      auto it = issuers_.find(*HashFromBytes(chain_fps.subspan(i, 32)));
      if (it == issuers_.end())
        return Fail(ErrorCode::kDatabase, "issuer certificate missing from the log");
      Put(chain, it->second.size(), 3);
      chain.insert(chain.end(), it->second.begin(), it->second.end());
    }
  }
  Bytes out;
  if (!precert.empty()) {  // PrecertChainEntry
    Put(out, precert.size(), 3);
    out.insert(out.end(), precert.begin(), precert.end());
  }
  Put(out, chain.size(), 3);
  out.insert(out.end(), chain.begin(), chain.end());
  return out;
}

Result<std::vector<LogEntry>> Log::GetEntries(uint64_t start, uint64_t end,
                                              size_t max_entries) const {
  uint64_t size = LatestTreeHead().tree_size;
  if (start > end) return Fail(ErrorCode::kInvalidArgument, "start must not exceed end");
  if (start >= size)
    return Fail(ErrorCode::kInvalidArgument,
                "start is beyond the tree size " + std::to_string(size));
  // RFC 6962 §4.6: the log may return fewer entries than asked for.
  end = std::min({end, size - 1, start + max_entries - 1});
  auto rows = TRY(read_db_->Query(
      "SELECT leaf_input, precert, chain FROM entries WHERE idx >= ? AND idx <= ? ORDER BY idx",
      {static_cast<int64_t>(start), static_cast<int64_t>(end)}));
  std::vector<LogEntry> out;
  out.reserve(rows.size());
  for (const auto& row : rows) {
    LogEntry e;
    e.leaf_input = TRY(row.Blob(0));
    const Bytes* precert = row[1].blob_if();
    e.extra_data = TRY(ExtraData(precert ? ByteView(*precert) : ByteView(), TRY(row.Blob(2))));
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace autoseal::ct
