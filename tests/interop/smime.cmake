# S/MIME message interop (smime/message.h through `autoseal smime`), both directions.
autoseal_interop(smime_openssl smime_openssl.sh)
autoseal_interop(smime_gpgsm smime_gpgsm.sh)
autoseal_interop(smime_nss smime_nss.sh)
autoseal_interop(smime_mutt smime_mutt.sh)
