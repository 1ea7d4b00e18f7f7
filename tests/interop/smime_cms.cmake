# CMS layer of S/MIME (smime/cms.h) against openssl cms/ts/pkeyutl, through tests/smime/cms_tool.cc.
autoseal_interop(smime_cms_openssl smime_cms_openssl.sh)
set_property(TEST interop.smime_cms_openssl APPEND PROPERTY ENVIRONMENT
             "CMS_TOOL=$<TARGET_FILE:smime_cms_tool>")
