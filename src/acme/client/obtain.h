#pragma once

// The whole issuance flow on top of Client (newOrder → authorizations → challenges → finalize →
// download → chain choice), and the on-disk layout of obtained certificates. What the CLI, the
// gateway and the mail agent call.

#include <optional>
#include <string>
#include <vector>

#include "acme/client/client.h"
#include "acme/client/solver.h"
#include "core/error.h"
#include "crypto/key.h"
#include "x509/certificate.h"

namespace autoseal::acme::client {

// What to obtain.
struct ObtainRequest {
  // DNS names (wildcards "*.example.com" allowed) and IP literals; the first is the CSR's common
  // name when it fits (≤ 64 characters).
  std::vector<std::string> names;
  std::optional<TimePoint> not_before, not_after;
  std::string profile;
  std::string replaces;  // ARI certID of the certificate this renews
  // Issuer common name of the chain to prefer (SelectPreferredChain); "" for the default.
  std::string preferred_chain;
};

// The result: the chosen chain (leaf first) and where it came from.
struct ObtainedCertificate {
  std::string order_url, certificate_url;
  std::string chain_pem;
  std::vector<x509::Certificate> chain;
};

// Identifiers for names: IP literals become "ip", everything else "dns" (lower-cased).
// kInvalidArgument for an empty list or an invalid DNS name.
Result<std::vector<Identifier>> IdentifiersForNames(const std::vector<std::string>& names);

// Runs one order to completion for key (the certificate's key, which signs the CSR). For each
// pending authorization the first solver (in the given order) whose type the server offers is
// used (wildcards: dns-01 only); every Present is matched by a CleanUp. Errors name the
// identifier and carry the server's problem (e.g. an invalid challenge's "incorrectResponse:
// ..."). Thread-safe as far as client and solvers are.
Result<ObtainedCertificate> ObtainCertificate(Client& client, const ObtainRequest& request,
                                              const crypto::PrivateKey& key,
                                              const std::vector<ChallengeSolver*>& solvers);

// On-disk layout of one obtained certificate, DIR/certs/<name>/:
//   current -> v<N>/            (symlink, swapped atomically with rename(2))
//   v<N>/key.pem (0600), v<N>/chain.pem (leaf first), v<N>/meta.json
//   key.pem -> current/key.pem, chain.pem -> current/chain.pem, meta.json -> current/meta.json
// so readers always see a key and a chain that belong together. The previous version is kept
// (for revocation), older ones are removed.
struct StoredCertificate {
  std::string dir;        // DIR/certs/<name>
  std::string key_path;   // stable paths through the symlinks
  std::string chain_path;
  std::string meta_json;  // whatever the caller stored with it
};

// The directory for a name: DIR/certs/<name> with a wildcard's "*" written as "_wildcard".
std::string CertificateDir(const std::string& data_dir, const std::string& name);

// Stores key, chain and meta as a new version and makes it current. kIo naming the path.
Result<StoredCertificate> StoreCertificate(const std::string& data_dir, const std::string& name,
                                           const crypto::PrivateKey& key,
                                           const std::string& chain_pem,
                                           const std::string& meta_json);
// Reads the current version. kNotFound when nothing is stored for name.
Result<StoredCertificate> LoadStoredCertificate(const std::string& data_dir,
                                                const std::string& name);

// The account directory for an ACME directory URL under data_dir:
// DIR/acme/accounts/<host_port_path, sanitised>.
std::string AccountDir(const std::string& data_dir, const std::string& directory_url);

}  // namespace autoseal::acme::client
