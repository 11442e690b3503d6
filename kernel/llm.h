/*
** llm.h - hone.llm: chat requests over HTTP (libcurl's multi interface), with retries,
** budgets and cache keys.
**
** Lua side:
**   hone.llm.chat(request) -> result                       one request
**   hone.llm.batch(requests [, {concurrency = n}]) -> results
**       Many requests in flight at once (n, default 8, at most 1024), started in request
**       order; results come back in request order, each with its own ok/kind/error.
**   hone.llm.prepare(request) -> {body, key, url, format}  what chat would send; sends nothing
**   hone.llm.budget{calls, prompt_tokens, completion_tokens, tokens} -> budget
**       Hard limits, each optional (unknown names raise). budget:spent(), budget:limits()
**       -> {calls, prompt_tokens, completion_tokens, tokens}; budget:exhausted() -> nil or
**       the one-line reason; budget:charge(calls, prompt, completion) adds usage that did
**       not go through hone.llm (a reply replayed from the cache that must count).
** They raise only for bad arguments (and out of memory); network, HTTP, reply and budget
** faults come back as a result with ok = false.
**
** request:
**   format           "openai" (chat completions, default) or "anthropic" (Messages API)
**   url              base URL: POSTs to url .. "/chat/completions" ("/messages" for
**                    anthropic); a trailing slash is fine; a url already ending in the
**                    endpoint is used as is                                      required
**   model            string                                                      required
**   messages         non-empty array of {role = string, content = string}; for anthropic,
**                    "system" messages are joined (blank line between) into "system". Text
**                    that is not valid UTF-8 (a model's stray bytes, echoed back) is sent with
**                    each byte that starts no character replaced by U+FFFD: servers refuse
**                    a body that is not UTF-8
**   temperature      number          max_tokens  integer >= 1 (anthropic: 4096 if absent)
**   seed             integer (53 bits); not sent in the anthropic format, but keyed
**   response_format  table, sent as JSON unchanged (openai format only)
**   api_key_env      the environment variable holding the key (OPENAI_API_KEY, or
**                    ANTHROPIC_API_KEY for anthropic); sent as "Authorization: Bearer KEY"
**                    or "x-api-key: KEY" when set and non-empty. The key never reaches Lua:
**                    not in the result, not in an error. A key holding a control character
**                    (a line break would split the header) is refused, by name only. A key
**                    of 8 bytes or more that the server quotes back (a careless proxy, an
**                    error page) is masked with '*' in response, content and errors.
**   connect_timeout  seconds (10)     timeout  seconds per attempt, whole transfer (300)
**   retries          extra attempts (4)        backoff  base seconds (1.0)
**   budget           a hone.llm.budget: checked before every attempt; a request is charged
**                    one call when first sent and its tokens when its reply arrives. With
**                    several in flight, token limits can be overshot by the replies
**                    already on their way; the calls limit is exact.
** Retried: HTTP 429 and 5xx, transport faults and timeouts. Retry n waits
** min(backoff * 2^(n-1), 60) s times a jitter in [0.5, 1), or Retry-After (capped at 120 s)
** on a 429 or 503. Not retried: other statuses, replies that cannot be used. A retry waits
** without holding up the other requests of its batch.
**
** The cache key is the SHA-256 of the format, the exact body and the seed: equal requests
** (model, messages, parameters, seed) have equal keys whatever the URL, timeouts or retries.
**
** result:
**   ok                 boolean
**   content            string, when ok
**   finish_reason      string, when the reply has one (anthropic: stop_reason)
**   prompt_tokens, completion_tokens   integers from usage, 0 when absent
**   latency_ms         the whole request, retries and waits included
**   attempts           HTTP attempts made (0 when the budget refused the request, or an
**                      interrupt came before the first)
**   http_status        the last attempt's status, 0 when none arrived
**   format, url, key   as prepare gives them
**   request            the exact JSON body sent (it holds no key)
**   response           the last attempt's raw body ("" when none; at most 64 MiB; of a
**                      reply cut for being larger, its first 4 KiB)
**   kind, error        when not ok: kind is one of
**                        http       a non-2xx status ("HTTP 500: <server's message>")
**                        transport  no usable HTTP exchange (refused, reset, cut, too large)
**                        timeout    an attempt ran out of time
**                        parse      a 2xx whose body is not JSON ("reply is not JSON
**                                   (nesting deeper than 1000 at byte 1000): [[[..."), or
**                                   has no usable choice
**                        refusal    the reply has no content: a refusal, the content
**                                   filter, or nothing at all
**                        budget     not sent: "LLM budget spent: calls 20 of 20"
**                        interrupted  hone got SIGINT or SIGTERM (interrupt.h): a transfer in
**                                   flight is aborted (it counts as an attempt), a request
**                                   not sent yet, or waiting to retry, makes no new attempt;
**                                   once interrupted, every later request ends so at once
**                      and error is one line saying why
**   attempt_log        one {http_status, latency_ms, kind?, error?, retry_after?} per attempt
*/
#ifndef HONE_LLM_H
#define HONE_LLM_H

#include <lua.h>
#include <stddef.h>

int hone_open_llm(lua_State *L);

/* ---- for tests and fuzzing only (fuzz/llm_reply.c); hone itself never calls these -------
** hone_llm_judge: what hone.llm makes of one HTTP exchange, without the network, through the
** very code that judges every real reply. format is "openai" or "anthropic"; status the HTTP
** status; header one response header line as received ("Retry-After: 5\r\n"; any other
** header is ignored, as in a transfer; NULL for none); body the reply's bytes (need not be
** text). Fills v and returns 0, or -1 (v empty) for an unknown format or out of memory.
** Never raises, never touches the network. hone_llm_verdict_free frees what v owns. */
typedef struct {
    const char *kind;          /* NULL: usable; else result.kind ("http", "parse", "refusal",
                                  "transport"); a static string */
    int retry;                 /* 1 if hone.llm would try again */
    double retry_after;        /* seconds from Retry-After, < 0 when none */
    double wait_s;             /* the wait before the retry (jitter from a fixed seed), 0 if none */
    char error[512];           /* result.error, when kind is set */
    char *content;             /* result.content when usable; owned by v */
    char *finish_reason;       /* or NULL; owned by v */
    long long prompt_tokens, completion_tokens;
} HoneLlmVerdict;

int hone_llm_judge(const char *format, long status, const char *header, size_t header_len,
                   const char *body, size_t len, HoneLlmVerdict *v);
void hone_llm_verdict_free(HoneLlmVerdict *v);

#endif
