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
**   attempts           HTTP attempts made (0 when the budget refused the request)
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
**                      and error is one line saying why
**   attempt_log        one {http_status, latency_ms, kind?, error?, retry_after?} per attempt
*/
#ifndef HONE_LLM_H
#define HONE_LLM_H

#include <lua.h>

int hone_open_llm(lua_State *L);

#endif
