#pragma once

// A Bloom filter over SHA-256 values (the log's entry identities): "certainly not added" or
// "perhaps added". It grows by adding a part twice the size of the last when that one holds its
// capacity, so it never needs rebuilding; with 16 bits and 4 probes per value a full part answers
// about 0.25 % of absent values with "perhaps". Not thread-safe.

#include <cstdint>
#include <cstring>
#include <vector>

#include "ct/merkle.h"

namespace autoseal::ct::internal {

class IdentityFilter {
 public:
  static constexpr size_t kFirstCapacity = size_t{1} << 16;

  void Add(const Hash& value) {
    if (parts_.empty() || parts_.back().count >= kFirstCapacity << (parts_.size() - 1)) {
      parts_.emplace_back();
      parts_.back().bits.resize((kFirstCapacity << (parts_.size() - 1)) * kBitsPerValue / 64);
    }
    Part& p = parts_.back();
    const uint64_t mask = p.bits.size() * 64 - 1;  // a power of two
    for (int i = 0; i < kProbes; ++i) {
      uint64_t bit = Probe(value, i) & mask;
      p.bits[bit / 64] |= uint64_t{1} << (bit % 64);
    }
    ++p.count;
  }

  bool MayContain(const Hash& value) const {
    for (const Part& p : parts_) {
      const uint64_t mask = p.bits.size() * 64 - 1;
      bool all = true;
      for (int i = 0; i < kProbes && all; ++i) {
        uint64_t bit = Probe(value, i) & mask;
        all = ((p.bits[bit / 64] >> (bit % 64)) & 1) != 0;
      }
      if (all) return true;
    }
    return false;
  }

  size_t parts() const { return parts_.size(); }

 private:
  static constexpr size_t kBitsPerValue = 16;
  static constexpr int kProbes = 4;
  struct Part {
    std::vector<uint64_t> bits;
    size_t count = 0;
  };
  // SHA-256 output is uniform: its four 64-bit words serve as four independent probes.
  static uint64_t Probe(const Hash& value, int i) {
    uint64_t v;
    std::memcpy(&v, value.data() + 8 * i, sizeof v);
    return v;
  }
  std::vector<Part> parts_;
};

}  // namespace autoseal::ct::internal
