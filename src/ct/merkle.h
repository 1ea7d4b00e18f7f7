#pragma once

// RFC 6962 §2.1 Merkle hash trees: leaf and node hashes, an append-only in-memory tree that
// answers roots, inclusion and consistency proofs for any size up to its own, and the RFC 9162
// §2.1.3.2 / §2.1.4.2 verification algorithms. The tree hash is SHA-256 for every log (the SM2
// log too).

#include <array>
#include <cstdint>
#include <vector>

#include "core/bytes.h"
#include "core/error.h"

namespace autoseal::ct {

using Hash = std::array<uint8_t, 32>;

// SHA-256("") — the root of the empty tree.
Hash EmptyRoot();
// SHA-256(0x00 || leaf).
Hash HashLeaf(ByteView leaf);
// SHA-256(0x01 || left || right).
Hash HashChildren(const Hash& left, const Hash& right);
Bytes ToBytes(const Hash& h);
Result<Hash> HashFromBytes(ByteView b);  // kParse unless 32 bytes

// An append-only Merkle tree keeping every complete subtree's hash: levels_[h][i] is the hash of
// leaves [i·2^h, (i+1)·2^h). Memory: about 64 bytes per leaf. Not thread-safe: callers serialise
// appends against readers (the log holds a shared_mutex).
class MerkleTree {
 public:
  uint64_t size() const { return levels_.empty() ? 0 : levels_[0].size(); }
  void Append(const Hash& leaf_hash);
  // Drops leaves beyond n (n <= size()).
  void Truncate(uint64_t n);
  const Hash& LeafHash(uint64_t index) const { return levels_[0][index]; }
  // The hash of complete subtree i at level h (2^h leaves), which must exist.
  const Hash& Node(unsigned h, uint64_t i) const { return levels_[h][i]; }
  // Number of complete subtrees at level h.
  uint64_t NodeCount(unsigned h) const { return h < levels_.size() ? levels_[h].size() : 0; }

  // MTH(D[0:n]) for n <= size().
  Hash Root(uint64_t n) const;
  // RFC 6962 §2.1.1 PATH(index, D[0:n]); requires index < n <= size().
  std::vector<Hash> InclusionProof(uint64_t index, uint64_t n) const;
  // RFC 6962 §2.1.2 PROOF(m, D[0:n]); requires 0 < m <= n <= size() (empty when m == n).
  std::vector<Hash> ConsistencyProof(uint64_t m, uint64_t n) const;

 private:
  Hash RangeHash(uint64_t begin, uint64_t end) const;
  void Path(uint64_t m, uint64_t begin, uint64_t end, std::vector<Hash>& out) const;
  void SubProof(uint64_t m, uint64_t begin, uint64_t end, bool b, std::vector<Hash>& out) const;
  std::vector<std::vector<Hash>> levels_;
};

// RFC 9162 §2.1.3.2: Ok if proof shows leaf_hash at index in a tree of tree_size with root.
// kCrypto saying what does not match otherwise.
Status VerifyInclusion(const Hash& leaf_hash, uint64_t index, uint64_t tree_size,
                       const std::vector<Hash>& proof, const Hash& root);
// RFC 9162 §2.1.4.2: Ok if proof shows the tree of size first (first_root) is a prefix of the
// tree of size second (second_root). first == second needs an empty proof and equal roots; first
// == 0 is consistent with anything (empty proof).
Status VerifyConsistency(uint64_t first, uint64_t second, const Hash& first_root,
                         const Hash& second_root, const std::vector<Hash>& proof);

}  // namespace autoseal::ct
