/* A program with OpenSSL linked in statically: what the agent must find by itself (the
 * upstream Node.js, vendor daemons). tests/unit/CMakeLists.txt builds it with -static, and a
 * stripped copy, for test_libfind_openssl and test_discovery. Run, it waits until its stdin
 * closes. */
#include <openssl/ssl.h>
#include <stdio.h>
#include <unistd.h>

int main(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = ctx ? SSL_new(ctx) : NULL;
	char buf[64];

	/* calls that keep SSL_read and SSL_write in the link; without a connection they fail */
	while (ssl && read(0, buf, sizeof(buf)) > 0) {
		SSL_write(ssl, buf, 1);
		SSL_read(ssl, buf, sizeof(buf));
	}
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	return 0;
}
