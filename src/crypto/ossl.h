#pragma once

// Owning pointers for OpenSSL objects. Each alias frees with the right function; an object lives
// in one of these from the moment it is created. Borrowed pointers stay raw and are never freed.
// Included by crypto/, x509/, tlcp/ and the TLS parts of net/ only (STYLE.md "OpenSSL").

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>
#include <string_view>

#include "core/error.h"

namespace autoseal::crypto {

#define AUTOSEAL_OSSL_DELETER(Type, free_fn)             \
  struct Type##Deleter {                                  \
    void operator()(Type* p) const { free_fn(p); }        \
  };

AUTOSEAL_OSSL_DELETER(EVP_PKEY, EVP_PKEY_free)
AUTOSEAL_OSSL_DELETER(EVP_PKEY_CTX, EVP_PKEY_CTX_free)
AUTOSEAL_OSSL_DELETER(EVP_MD_CTX, EVP_MD_CTX_free)
AUTOSEAL_OSSL_DELETER(EVP_CIPHER_CTX, EVP_CIPHER_CTX_free)
AUTOSEAL_OSSL_DELETER(BIO, BIO_free_all)
AUTOSEAL_OSSL_DELETER(BIGNUM, BN_free)
AUTOSEAL_OSSL_DELETER(BN_CTX, BN_CTX_free)
AUTOSEAL_OSSL_DELETER(EC_GROUP, EC_GROUP_free)
AUTOSEAL_OSSL_DELETER(EC_POINT, EC_POINT_free)
AUTOSEAL_OSSL_DELETER(ECDSA_SIG, ECDSA_SIG_free)
AUTOSEAL_OSSL_DELETER(X509, X509_free)
AUTOSEAL_OSSL_DELETER(X509_REQ, X509_REQ_free)
AUTOSEAL_OSSL_DELETER(X509_CRL, X509_CRL_free)
AUTOSEAL_OSSL_DELETER(X509_NAME, X509_NAME_free)
AUTOSEAL_OSSL_DELETER(X509_EXTENSION, X509_EXTENSION_free)
AUTOSEAL_OSSL_DELETER(X509_STORE, X509_STORE_free)
AUTOSEAL_OSSL_DELETER(X509_STORE_CTX, X509_STORE_CTX_free)
AUTOSEAL_OSSL_DELETER(X509_REVOKED, X509_REVOKED_free)
AUTOSEAL_OSSL_DELETER(ASN1_INTEGER, ASN1_INTEGER_free)
AUTOSEAL_OSSL_DELETER(ASN1_TIME, ASN1_TIME_free)
AUTOSEAL_OSSL_DELETER(ASN1_OCTET_STRING, ASN1_OCTET_STRING_free)
AUTOSEAL_OSSL_DELETER(ASN1_ENUMERATED, ASN1_ENUMERATED_free)
AUTOSEAL_OSSL_DELETER(GENERAL_NAMES, GENERAL_NAMES_free)
AUTOSEAL_OSSL_DELETER(EXTENDED_KEY_USAGE, EXTENDED_KEY_USAGE_free)
AUTOSEAL_OSSL_DELETER(BASIC_CONSTRAINTS, BASIC_CONSTRAINTS_free)
AUTOSEAL_OSSL_DELETER(ASN1_BIT_STRING, ASN1_BIT_STRING_free)
AUTOSEAL_OSSL_DELETER(AUTHORITY_KEYID, AUTHORITY_KEYID_free)
AUTOSEAL_OSSL_DELETER(CERTIFICATEPOLICIES, CERTIFICATEPOLICIES_free)
#undef AUTOSEAL_OSSL_DELETER

using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EVP_PKEYDeleter>;
using EvpPkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, EVP_PKEY_CTXDeleter>;
using EvpMdCtxPtr = std::unique_ptr<EVP_MD_CTX, EVP_MD_CTXDeleter>;
using EvpCipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, EVP_CIPHER_CTXDeleter>;
using BioPtr = std::unique_ptr<BIO, BIODeleter>;
using BignumPtr = std::unique_ptr<BIGNUM, BIGNUMDeleter>;
using BnCtxPtr = std::unique_ptr<BN_CTX, BN_CTXDeleter>;
using EcGroupPtr = std::unique_ptr<EC_GROUP, EC_GROUPDeleter>;
using EcPointPtr = std::unique_ptr<EC_POINT, EC_POINTDeleter>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, ECDSA_SIGDeleter>;
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using X509ReqPtr = std::unique_ptr<X509_REQ, X509_REQDeleter>;
using X509CrlPtr = std::unique_ptr<X509_CRL, X509_CRLDeleter>;
using X509NamePtr = std::unique_ptr<X509_NAME, X509_NAMEDeleter>;
using X509ExtensionPtr = std::unique_ptr<X509_EXTENSION, X509_EXTENSIONDeleter>;
using X509StorePtr = std::unique_ptr<X509_STORE, X509_STOREDeleter>;
using X509StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, X509_STORE_CTXDeleter>;
using X509RevokedPtr = std::unique_ptr<X509_REVOKED, X509_REVOKEDDeleter>;
using Asn1IntegerPtr = std::unique_ptr<ASN1_INTEGER, ASN1_INTEGERDeleter>;
using Asn1TimePtr = std::unique_ptr<ASN1_TIME, ASN1_TIMEDeleter>;
using Asn1OctetStringPtr = std::unique_ptr<ASN1_OCTET_STRING, ASN1_OCTET_STRINGDeleter>;
using Asn1EnumeratedPtr = std::unique_ptr<ASN1_ENUMERATED, ASN1_ENUMERATEDDeleter>;
using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, GENERAL_NAMESDeleter>;
using ExtendedKeyUsagePtr = std::unique_ptr<EXTENDED_KEY_USAGE, EXTENDED_KEY_USAGEDeleter>;
using BasicConstraintsPtr = std::unique_ptr<BASIC_CONSTRAINTS, BASIC_CONSTRAINTSDeleter>;
using Asn1BitStringPtr = std::unique_ptr<ASN1_BIT_STRING, ASN1_BIT_STRINGDeleter>;
using AuthorityKeyIdPtr = std::unique_ptr<AUTHORITY_KEYID, AUTHORITY_KEYIDDeleter>;
using CertificatePoliciesPtr = std::unique_ptr<CERTIFICATEPOLICIES, CERTIFICATEPOLICIESDeleter>;

// Drains OpenSSL's thread-local error queue into an Error: "<what>: <openssl reasons>".
// Call right after a failed OpenSSL function.
Error OpenSslError(std::string_view what, ErrorCode code = ErrorCode::kCrypto);

// Clears the queue (after an expected failure that we handle ourselves).
void ClearOpenSslErrors();

// A read-only memory BIO over data (which must outlive the BIO).
BioPtr MemoryBio(std::string_view data);
// The bytes written to a memory BIO.
std::string BioContents(BIO* bio);

}  // namespace autoseal::crypto
