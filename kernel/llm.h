/*
** llm.h - hone.llm: one chat completion over HTTP (libcurl), with retries.
**
** Lua side:  hone.llm.chat(request) -> result
** Raises only for bad arguments (and out of memory); network, HTTP and reply faults come back
** as a result with ok = false.
**
** request:
**   url              base URL: POSTs to url .. "/chat/completions" (a trailing slash is fine;
**                    a url already ending in /chat/completions is used as is)     required
**   model            string                                                      required
**   messages         non-empty array of {role = string, content = string}        required
**   temperature      number          max_tokens  integer >= 1      seed  integer (53 bits)
**   response_format  table, sent as JSON unchanged
**   api_key_env      name of the environment variable holding the key ("OPENAI_API_KEY");
**                    sent as "Authorization: Bearer KEY" when set and non-empty. The key
**                    never reaches Lua: not in the result, not in an error.
**   connect_timeout  seconds (10)     timeout  seconds per attempt, whole transfer (300)
**   retries          extra attempts (4)        backoff  base seconds (1.0)
** Retried: HTTP 429 and 5xx, transport faults and timeouts. Retry n waits
** min(backoff * 2^(n-1), 60) s times a jitter in [0.5, 1), or Retry-After (capped at 120 s)
** on a 429 or 503. Not retried: other statuses, replies that cannot be used.
**
** result:
**   ok                 boolean
**   content            string, when ok
**   finish_reason      string, when the reply has one
**   prompt_tokens, completion_tokens   integers from usage, 0 when absent
**   latency_ms         the whole call, retries and waits included
**   attempts           HTTP attempts made
**   http_status        the last attempt's status, 0 when none arrived
**   request            the exact JSON body sent (it holds no key)
**   response           the last attempt's raw body ("" when none; at most 64 MiB)
**   kind, error        when not ok: kind is one of
**                        http       a non-2xx status ("HTTP 500: <server's message>")
**                        transport  no usable HTTP exchange (refused, reset, cut, too large)
**                        timeout    an attempt ran out of time
**                        parse      a 2xx whose body is not JSON or has no usable choice
**                        refusal    the choice has no content: a refusal, the content
**                                   filter, or nothing at all
**                      and error is one line saying why
**   attempt_log        one {http_status, latency_ms, kind?, error?, retry_after?} per attempt
*/
#ifndef HONE_LLM_H
#define HONE_LLM_H

#include <lua.h>

int hone_open_llm(lua_State *L);

#endif
