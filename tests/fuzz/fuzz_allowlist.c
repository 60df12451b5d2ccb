/* --allow FILE's parser (collector/allowlist.c): any bytes either parse into entries that
 * allowlist_allows() then finds, or fail with a message; never a crash or a leak. */
#include "allowlist.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct allowlist a;
	char err[300] = "";
	uint8_t zero[32] = {0};

	if (allowlist_parse(&a, (const char *)data, size, err, sizeof(err)) == 0) {
		for (size_t i = 0; i < a.n_subjects; i++)
			if (!allowlist_allows(&a, a.subjects[i], zero) || !a.subjects[i][0])
				abort(); /* every subject parsed is found, and none is empty */
		for (size_t i = 0; i < a.n_fps; i++)
			if (!allowlist_allows(&a, "", a.fps[i]))
				abort();
	} else if (!err[0] || allowlist_size(&a)) {
		abort(); /* a failure says why and leaves nothing behind */
	}
	allowlist_free(&a);
	return 0;
}
