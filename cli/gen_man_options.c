/* Prints the OPTIONS section of sslcollector(8) made from the option table; used by
 * scripts/update-man.sh and the man_options test. */
#include "options.h"

#include <stdio.h>

int main(void)
{
	static char text[65536];

	options_man_text(text, sizeof(text));
	fputs(text, stdout);
	return 0;
}
