/*
 * tls_front.h: TLS for `jiaozi serve`, in front of the HTTP server.
 *
 * Debian 12's civetweb cannot drive OpenSSL 3, so TLS is terminated here, through the
 * crypto module (OpenSSL 3): a listener on the public address accepts TLS connections and
 * relays each, decrypted, to the HTTP server, which then listens on 127.0.0.1 only. One
 * thread per connection, bounded.
 */
#ifndef JZ_TLS_FRONT_H
#define JZ_TLS_FRONT_H

#include "crypto.h"

typedef struct tls_front tls_front;

/* Listens on addr ("host:port", port 0 for a free one) and relays to 127.0.0.1:backend. */
int tls_front_start(const char *addr, int backend_port, crypto_tls_server *tls,
                    int max_conns, tls_front **out, char *err, size_t err_len);
int tls_front_port(const tls_front *f);
/* Stops accepting, closes every connection and frees the front. */
void tls_front_stop(tls_front *f);

#endif
