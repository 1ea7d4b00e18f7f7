// Fuzzes the CMS layer's parsers of untrusted bytes (smime/cms.h): SignedData verification,
// decryption of EnvelopedData / AuthEnvelopedData / GM/T 0010 envelopedData with fixed test keys
// (RSA, EC, SM2: the seed corpus in corpus/cms_parse is encrypted to them, so inputs reach the
// key transport, key agreement and content decryption), type detection, SMIMECapabilities and the
// BER reader. Invariants: no crash; nothing verifies without trust anchors; a decryption that
// succeeds names a cipher and key encryption; DetectType agrees with what Verify/Decrypt accept.
// The keys below are test keys made for this file only (corpus/make_cms_corpus.sh reads them).

#include <cstddef>
#include <cstdint>

#include "core/error.h"
#include "crypto/key.h"
#include "smime/cms.h"
#include "x509/certificate.h"

using namespace autoseal;

namespace {

const char kRsaCert[] = R"pem(-----BEGIN CERTIFICATE-----
MIIDYjCCAkqgAwIBAgIUS7uyV5RPcwdqvRlaSm1GDhpeZK0wDQYJKoZIhvcNAQEL
BQAwPDEXMBUGA1UECgwOYXV0b3NlYWwgdGVzdHMxITAfBgNVBAMMGENNUyBJbnRl
cm9wIFJvb3QgcnNhMjA0ODAeFw0yNjExMjcxNTI1MDVaFw0yNzA5MjQxNTI1MDVa
MA4xDDAKBgNVBAMMA2JvYjCCASIwDQYJKoZIhvcNAQEBBQADggEPADCCAQoCggEB
AKvwjjiXtcQxnJZUgY0i9YaXsJ/WHs1HCkPee87kr+X9zrPZUTb8qg5Ot0kP9rau
1jFRN4BJ6xhlfh4tnyFnU6udjstxuaZ7hl2Ylp2EtSF4z4l1XenAn3FVHgNKnvrW
bzozc2BN+u9SeLnFIaeNpNHBLge4277Qi3k3jWAawUFP+3y641i4jkIYTkk0wcRX
T1cwhqxeVsc6uuTPcdYYEZlBHXyxKnrQtFsfr3VM79spp0O/OL5gsdOHsQxskpjq
mUuLXvA51GjQevTvAp7jI6CxuWjVDA4UP3w6XquqnhnP38ZBWIH9kthcAZHq6hh5
CQnBRmuwO1+VO9YK78xGai0CAwEAAaOBiTCBhjAMBgNVHRMBAf8EAjAAMA4GA1Ud
DwEB/wQEAwIFoDATBgNVHSUEDDAKBggrBgEFBQcDBDAaBgNVHREEEzARgQ9ib2JA
ZXhhbXBsZS5vcmcwHwYDVR0jBBgwFoAU+4HtIJooGOevA4TLpoYuf78I3aAwFAYD
VR0gBA0wCzAJBgdngQwBBQEDMA0GCSqGSIb3DQEBCwUAA4IBAQBR6IB61sAwFlF7
60h8R+9WXHO65fQXg9mOr8TPIvijUqSmeMCHtcboXQk44BK2lcW5qmQ5Y3XoX/7Z
//b2LVsgWteCvD5VGrsQph2vuiWKbRboUU9PB6xbpxlEgL4dZPUNk3xefSXB7GnU
3N/0ylKq+Xa1KX+LvmDDnc+CJ7YANKzMSVvIkBuMyBzeV1RTTTZfNn2lVFdk4UYO
rLRM0yiKhKwQ452jxu7NUmy5TsrOVndn9k9zYUIcdUkyWrHKZmRfdcqW38JLiBRi
Ku+luL+DpPC5a9OfMUrAOmBIF4s66XtZewF7aGPZm9Mnunqn+UN5chFsTlXznwa+
x/OGJh06
-----END CERTIFICATE-----
)pem";
const char kRsaKey[] = R"pem(-----BEGIN PRIVATE KEY-----
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQCr8I44l7XEMZyW
VIGNIvWGl7Cf1h7NRwpD3nvO5K/l/c6z2VE2/KoOTrdJD/a2rtYxUTeASesYZX4e
LZ8hZ1OrnY7Lcbmme4ZdmJadhLUheM+JdV3pwJ9xVR4DSp761m86M3NgTfrvUni5
xSGnjaTRwS4HuNu+0It5N41gGsFBT/t8uuNYuI5CGE5JNMHEV09XMIasXlbHOrrk
z3HWGBGZQR18sSp60LRbH691TO/bKadDvzi+YLHTh7EMbJKY6plLi17wOdRo0Hr0
7wKe4yOgsblo1QwOFD98Ol6rqp4Zz9/GQViB/ZLYXAGR6uoYeQkJwUZrsDtflTvW
Cu/MRmotAgMBAAECggEAARUSLB0Ypdmehq4nkeYd+OWZC+thvFNrZyh3QowI50bm
Hk187sekKoqIYOWuOH9hmm0Vjyzsg1FD8u8KFYBaHRZU/Zk12DWLNE2xsd/tOqyH
+Q0AVQPjWsNQFE1L1xvgX7hO1YKJS6iUIneDdEFfv8NDgSmVDWMwdiOgM/IzvW+/
oREV7+wAo7lLhKS1a/MndhAPZvhV9tz88N/XVIe7CxoM3WRwEQ59gapgP15MovfB
AoFp0AO1TaNS2PJo+JooJfdCgmJekMWebi22JiO2iPxjPq/pFsFqssCZD6BHHdgt
2xlGb5wzcyE/b9VY6Lciw0eHsDOS3KltNxq2l6C+GQKBgQDcx2WRYErECUWCUsd3
ggI8xYVSO/3LjrSkQkrkGYQ7nmnJbkCesBTfCMgbO8ozaZ7Y4/TxPl3ucycb9w6Z
99GZoZ+yStff84YeeIduICCYgmh/zlSYJSH93V+BtlpZtTQQsAvP96fFGjPUEbGt
yA3piu37hmnDBEEUsAlUdCNt+QKBgQDHXpEAaEx2rwjx5huDmy3sEi0kxf+lOhrP
YPw81ZsJkUoErvmUo2d3Kr53o3Det+jsIfW+APvwe+9t4yRa4/5b5RAlsoL8dbU8
ljPTnjSjjQ7nsEH11bSmnwxEvVebhuNQaQm9n9vT9vKoc+yfzrH32tcJMe2gFMLj
EWUmYU261QKBgQDDiyAcmMrfws571VGyOcY9iTzCTzxE1MqOSeEHEsqZ+37619oI
MzDpMl/6LwSycLQuqgjCu1h64Ccdj76xBFvy1MIbKkr1oj2CM4LQOUhli+t+d4NZ
lln6/d2fh6GSnvnUZfiwZEuGOeT5ygozP2ODHHgYNT7raZMy/Y/l60+OEQKBgHkU
BGnD7dQSPxNxlPobLwt0ingPy08T955EH0vuyeZIlzQ685YCmt5zVhMgbnbEKC/n
++81d8w36FPLI5QTbLFwbpsGS6h47+Vorvbw2LUPAKNSluxuqfSbGP9SIjdw9vIp
qGHCCOY0zm/hXy46gDivbfLGoLKciTMPqGdjpqo1AoGBAKlX6z5YVdiXQm40t0Xm
MQvEDl0RREw4Shz/UjsldncItEcMA6KHj9bWB09Z1c8X6TFw8+nCagZgR8dnDCxl
MttMa/zF8kJZvd6emvnu2jMxnzTZ1jOW8Rhng3hjdSZVLgZy95dl9TNOrTbH6T5T
rRPb4wTUoqkx+Gv/jH88OM6K
-----END PRIVATE KEY-----
)pem";
const char kEcCert[] = R"pem(-----BEGIN CERTIFICATE-----
MIICmzCCAYOgAwIBAgIURRnxYGyaa2d8CR3aonUSSPCO2WowDQYJKoZIhvcNAQEL
BQAwPDEXMBUGA1UECgwOYXV0b3NlYWwgdGVzdHMxITAfBgNVBAMMGENNUyBJbnRl
cm9wIFJvb3QgcnNhMjA0ODAeFw0yNjExMjcxNTI1MDVaFw0yNzA5MjQxNTI1MDVa
MBAxDjAMBgNVBAMMBWNhcm9sMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEvYs8
J8pRSg4mC66335PG+anOlNY4eb0XFInTSd1Fp0gTKi/ZbT6NuGkNLPpkF3+btGLM
/7qh6ZsSkoKS+mOdHqOBizCBiDAMBgNVHRMBAf8EAjAAMA4GA1UdDwEB/wQEAwID
iDATBgNVHSUEDDAKBggrBgEFBQcDBDAcBgNVHREEFTATgRFjYXJvbEBleGFtcGxl
Lm9yZzAfBgNVHSMEGDAWgBT7ge0gmigY568DhMumhi5/vwjdoDAUBgNVHSAEDTAL
MAkGB2eBDAEFAQMwDQYJKoZIhvcNAQELBQADggEBALaDRehII53Iu+ZaO04w5Pl5
tN7LBXP1tjv/dwFm0fhd15XSPFuRbeV3MWPvfxPfYHV2CGXk68FNX3OC00kUFDDl
Hogkdgv3YjClZv4NUmH9zjCM1lfeYNrm3vqmQjHSCnKQT/CNNbhCVq1u+xVWVVcc
6iSNIlTZnKWtMpif5K4fj+W+O6mH6s8PzDdUFrijURXM7sa3acmvgCmTXDPIrpAh
126v1RmpqNyJd2auzCj+HAZy7IQ/+5lGgtwBGuCkUQl0t8Lq/OlhDOKvaSFgEF3X
a/cu0x0kZ34v/jFsZbJvTFHz2QvMe2VaEmKoa+bl8A1diYtr8BCkTU7GpwfNJwY=
-----END CERTIFICATE-----
)pem";
const char kEcKey[] = R"pem(-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgUAFDyE+RIE7GQrOb
OVd6MAvnOkxZVqITtaDS/AWjOWuhRANCAAS9izwnylFKDiYLrrffk8b5qc6U1jh5
vRcUidNJ3UWnSBMqL9ltPo24aQ0s+mQXf5u0Ysz/uqHpmxKSgpL6Y50e
-----END PRIVATE KEY-----
)pem";
const char kSm2Cert[] = R"pem(-----BEGIN CERTIFICATE-----
MIIB0jCCAXigAwIBAgIUZ6PZOfto9jAZg7VeCJK0EgW01e8wCgYIKoEcz1UBg3Uw
ODEXMBUGA1UECgwOYXV0b3NlYWwgdGVzdHMxHTAbBgNVBAMMFENNUyBJbnRlcm9w
IFJvb3Qgc20yMB4XDTI2MTEyNzE1MjUwN1oXDTI3MDkyNDE1MjUwN1owDjEMMAoG
A1UEAwwDYm9iMFkwEwYHKoZIzj0CAQYIKoEcz1UBgi0DQgAEJiW6GZTqf5GPJNeH
0Ae/knyxyatVYl0MVtZif6iEtkm6Lvh2Ezzj+sYhcT0eOVqnJvLfh4h7juCo2ZLG
3e9iLaOBiTCBhjAMBgNVHRMBAf8EAjAAMA4GA1UdDwEB/wQEAwIFoDATBgNVHSUE
DDAKBggrBgEFBQcDBDAaBgNVHREEEzARgQ9ib2JAZXhhbXBsZS5vcmcwHwYDVR0j
BBgwFoAUQYk3U4b/wZfUvf5HVTm+NzLyFmYwFAYDVR0gBA0wCzAJBgdngQwBBQED
MAoGCCqBHM9VAYN1A0gAMEUCIDVuMhanbgjaGR6QnSd1tPEVGq4QhSQXH6Hsx6zv
urcpAiEAvYnCDEYfGK+1nff8pM6zaZgSdQqz/sFeYuQKFwKfaZY=
-----END CERTIFICATE-----
)pem";
const char kSm2Key[] = R"pem(-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqBHM9VAYItBG0wawIBAQQgVfWhioM4Z4qbLQ9q
JxNyndnn1hhZyx8jrFLuNIjDfvChRANCAAQmJboZlOp/kY8k14fQB7+SfLHJq1Vi
XQxW1mJ/qIS2Sbou+HYTPOP6xiFxPR45Wqcm8t+HiHuO4KjZksbd72It
-----END PRIVATE KEY-----
)pem";

struct Identity {
  x509::Certificate cert;
  crypto::PrivateKey key;
};

const std::vector<Identity>& Identities() {
  static const std::vector<Identity> ids = [] {
    std::vector<Identity> v;
    for (auto [c, k] : {std::pair{kRsaCert, kRsaKey}, {kEcCert, kEcKey}, {kSm2Cert, kSm2Key}}) {
      auto cert = x509::Certificate::FromPem(c);
      auto key = crypto::PrivateKey::FromPem(k);
      CHECK(cert.has_value() && key.has_value());
      v.push_back({*cert, *key});
    }
    return v;
  }();
  return ids;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ByteView input(data, size);
  auto type = smime::DetectType(input);
  smime::VerifyOptions vo;  // no roots: nothing may come out valid
  vo.at = FromUnixSeconds(1800000000);
  static const std::string kDetached = "Content-Type: text/plain\r\n\r\nseed\r\n";
  smime::VerifyReport report = smime::Verify(input, AsBytes(kDetached), vo);
  CHECK(!report.ok());
  if (!report.malformed) {
    CHECK(type.has_value());
    CHECK(*type == smime::CmsType::kSignedData || *type == smime::CmsType::kSm2SignedData);
    (void)report.Problems();
  }
  for (const Identity& id : Identities()) {
    auto d = smime::Decrypt(input, id.cert, id.key);
    if (d) {
      CHECK(type.has_value());
      CHECK(*type != smime::CmsType::kSignedData && *type != smime::CmsType::kSm2SignedData);
      CHECK(!smime::ContentCipherName(d->cipher).empty());
      CHECK(!smime::KeyEncryptionName(d->key_encryption).empty());
    }
  }
  (void)smime::ParseSmimeCapabilities(input);
  return 0;
}
