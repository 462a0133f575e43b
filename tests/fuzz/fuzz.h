/*
 * fuzz.h — what every libFuzzer harness of amicd defines (tests/fuzz/fuzz_*.c).
 *
 * Each harness feeds one parser that takes outside input and checks, besides
 * "no crash, no leak, no undefined behaviour" (the sanitizers), the properties
 * the parser promises. The same file builds two ways: with clang's libFuzzer
 * (`make fuzz`, -fsanitize=fuzzer) and, linked with replay_main.c, as a plain
 * program that runs the seeds and every crash ever found
 * (tests/fuzz/regressions/<name>/) as part of `make test`.
 */
#ifndef AMICD_FUZZ_H
#define AMICD_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* fuzz_check — abort (a finding) when a promised property does not hold. */
#define fuzz_check(cond)                                                                  \
	do {                                                                              \
		if (!(cond)) {                                                            \
			fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                          \
		}                                                                         \
	} while (0)

#endif
