/*
 * tls.h: the OpenSSL server context for STARTTLS and implicit TLS, with a
 * self-signed certificate made at first start when none is configured.
 */
#ifndef SPAMLAB_TLS_H
#define SPAMLAB_TLS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ssl_ctx_st SSL_CTX;

/*
 * A server context from cert/key (PEM files), or, if both are empty, from
 * DIR/cert.pem and DIR/key.pem, which are generated (self-signed, for
 * hostname) when missing.  NULL with a message in err on failure.
 */
SSL_CTX *tls_context_new(const char *cert, const char *key, const char *dir,
                         const char *hostname, char *err, size_t errsz);

#endif /* SPAMLAB_TLS_H */
