/*
 * tls.c: the TLS server context.  Spammers' clients are old and careless,
 * so every protocol OpenSSL still allows at its default security level is
 * accepted; what was negotiated is recorded per session.
 */
#include "tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

/* Write a self-signed EC P-256 certificate for hostname (10 years). */
static bool
tls_make_self_signed(const char *certpath, const char *keypath,
                     const char *hostname, char *err, size_t errsz)
{
	EVP_PKEY *pkey = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name;
	FILE *f = NULL;
	bool ok = false;
	mode_t old;

	if (!pkey || !x)
		goto fail;
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), (long)time(NULL));
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 10L * 365 * 24 * 3600);
	X509_set_pubkey(x, pkey);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	                           (const unsigned char *)hostname, -1, -1, 0);
	X509_set_issuer_name(x, name);
	if (!X509_sign(x, pkey, EVP_sha256()))
		goto fail;
	old = umask(077);
	f = fopen(keypath, "w");
	umask(old);
	if (!f || !PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL) ||
	    fclose(f) != 0)
	{
		f = NULL;
		goto fail;
	}
	f = fopen(certpath, "w");
	if (!f || !PEM_write_X509(f, x) || fclose(f) != 0)
	{
		f = NULL;
		goto fail;
	}
	f = NULL;
	ok = true;
	log_event(LOG_INFO, NULL, "tls_certificate_created", "cert=%s", certpath);
fail:
	if (!ok)
		snprintf(err, errsz, "cannot create a self-signed certificate in %s",
		         certpath);
	if (f)
		fclose(f);
	EVP_PKEY_free(pkey);
	X509_free(x);
	return ok;
}

SSL_CTX *
tls_context_new(const char *cert, const char *key, const char *dir,
                const char *hostname, char *err, size_t errsz)
{
	char certpath[1024], keypath[1024];
	SSL_CTX *ctx;

	if (!*cert)
	{
		if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		{
			snprintf(err, errsz, "%s: %s", dir, strerror(errno));
			return NULL;
		}
		snprintf(certpath, sizeof(certpath), "%s/cert.pem", dir);
		snprintf(keypath, sizeof(keypath), "%s/key.pem", dir);
		if ((access(certpath, R_OK) != 0 || access(keypath, R_OK) != 0) &&
		    !tls_make_self_signed(certpath, keypath, hostname, err, errsz))
			return NULL;
		cert = certpath;
		key = keypath;
	}
	ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx)
	{
		snprintf(err, errsz, "SSL_CTX_new failed");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
	/* small idle footprint: release buffers between records */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1)
	{
		unsigned long e = ERR_get_error();
		char buf[256];

		ERR_error_string_n(e, buf, sizeof(buf));
		snprintf(err, errsz, "%s: %s", cert, buf);
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}
