/*
 * fuzz_eventbridge.c — an EventBridge delivery: the envelope, its four kinds
 * (AMI state, launch permission, tags, AMI Shared), and the facts each gives.
 * Properties: a parsed event has its envelope fields; every AMI fact names a
 * region and an image; the note is valid UTF-8 (it is answered and stored).
 */
#include "fuzz.h"
#include "fuzz_common.h"

#include "eventbridge.h"
#include "facts.h"
#include "utf8.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_config();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *doc = json_loadb((const char *)data, size, 0, NULL);
	struct eb_event ev;
	struct amicd_error err;

	if (doc == NULL)
		return 0;
	if (eventbridge_parse(doc, &ev, &err) == AMICD_OK) {
		struct fact_list facts = { 0 };

		fuzz_check(ev.id != NULL && ev.time != NULL && ev.region != NULL && ev.kind_name != NULL);
		fuzz_check(utf8_valid(ev.note, strlen(ev.note)));
		if (facts_from_event(fuzz_config(), "eventbridge", ev.kind_name, doc, &facts, &err) == AMICD_OK) {
			for (size_t i = 0; i < facts.n; i++) {
				const struct fact *f = &facts.items[i];

				if (f->kind != FACT_PUSH)
					fuzz_check(f->region != NULL && f->image_id != NULL);
				if (f->kind == FACT_AMI_SHARE || f->kind == FACT_AMI_TAG)
					fuzz_check(f->account != NULL);
				if (f->kind == FACT_AMI_TAG) /* no key: a DeleteTags of every tag */
					fuzz_check(f->key != NULL ? f->key[0] != '\0' : f->deleted);
				if (f->kind == FACT_AMI_STATE)
					fuzz_check(f->state != NULL && fact_state_rank(f->state) >= 0);
			}
			fuzz_check(utf8_valid(facts.note, strlen(facts.note)));
		}
		fact_list_free(&facts);
	} else {
		fuzz_check(utf8_valid(err.message, strlen(err.message)));
	}
	json_decref(doc);
	return 0;
}
