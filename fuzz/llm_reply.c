/*
** fuzz/llm_reply.c - libFuzzer target: how hone.llm judges an HTTP reply (kernel/llm.c, through
** hone_llm_judge: the OpenAI and Anthropic reply readers, error bodies, refusals, Retry-After).
**
** Input: byte 0 picks the format (bit 0) and the HTTP status (bits 1-4, from statuses[]); the
** bytes after it up to the first '\n' (included) are one response header line; the rest is
** the body. Besides the sanitizers, every verdict must keep llm.h's contract:
**   - usable (kind NULL) exactly when the status is 2xx and there is non-empty content;
**   - kind "http" exactly for a non-2xx status; retried only for 429 and 5xx;
**   - error, when there is a kind, is one non-empty line (no control characters);
**   - token counts are whole numbers in [0, 2^53); Retry-After is none (< 0) or >= 0 s;
**     a retry waits Retry-After on a 429 or 503 (capped at 120 s), else the backoff.
*/
#include "llm.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const long statuses[16] = {200, 201, 204, 299, 400, 401, 404, 429,
                                  500, 502, 503, 100, 302, 0, 600, 199};

static void finding(const char *what, const HoneLlmVerdict *v) {
    fprintf(stderr, "llm_reply: %s (kind %s, error \"%s\")\n", what, v->kind ? v->kind : "none",
            v->error);
    abort();
}

static int one_line(const char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7F) return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const char *format = data[0] & 1 ? "anthropic" : "openai";
    long status = statuses[(data[0] >> 1) & 15];
    const char *rest = (const char *)data + 1;
    size_t left = size - 1;
    const char *nl = memchr(rest, '\n', left);
    size_t header_len = nl ? (size_t)(nl - rest) + 1 : 0;

    HoneLlmVerdict v;
    if (hone_llm_judge(format, status, nl ? rest : NULL, header_len, rest + header_len,
                       left - header_len, &v) != 0) {
        fprintf(stderr, "llm_reply: hone_llm_judge failed (out of memory?)\n");
        abort();
    }
    int ok_status = status >= 200 && status <= 299;
    if (!v.kind != (ok_status && v.content && *v.content)) finding("usable without content, or content unused", &v);
    if ((v.kind && strcmp(v.kind, "http") == 0) != !ok_status) finding("kind http does not match the status", &v);
    if (v.kind && strcmp(v.kind, "http") && strcmp(v.kind, "parse") && strcmp(v.kind, "refusal") &&
        strcmp(v.kind, "transport"))
        finding("unknown kind", &v);
    if (v.kind && (!memchr(v.error, '\0', sizeof v.error) || !*v.error || !one_line(v.error)))
        finding("error is not one non-empty line", &v);
    if (v.retry && !(status == 429 || status >= 500)) finding("retried a status that is not retried", &v);
    if (v.prompt_tokens < 0 || v.completion_tokens < 0 || v.prompt_tokens >= (1LL << 53) ||
        v.completion_tokens >= (1LL << 53))
        finding("token count out of range", &v);
    if (isnan(v.retry_after) || (v.retry_after >= 0 && !nl)) finding("Retry-After out of nowhere", &v);
    if (v.retry) {
        double want = v.retry_after >= 0 && (status == 429 || status == 503) ? fmin(v.retry_after, 120) : -1;
        if (!(v.wait_s >= 0 && v.wait_s <= 120) || (want >= 0 && v.wait_s != want))
            finding("retry wait out of range", &v);
    }
    hone_llm_verdict_free(&v);
    return 0;
}
