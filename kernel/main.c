/*
** main.c - the hone executable: process-wide set-up, then the Lua CLI (lua/hone/cli.lua).
*/
#include "host.h"

#include <curl/curl.h>
#include <stdio.h>

int main(int argc, char **argv) {
    char err[256];
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "hone: cannot initialise libcurl\n");
        return 1;
    }
    lua_State *L = hone_host_new(err, sizeof err);
    if (!L) {
        fprintf(stderr, "hone: %s\n", err);
        curl_global_cleanup();
        return 2;
    }
    int code = hone_host_main(L, argc, argv);
    hone_host_close(L);
    curl_global_cleanup();
    return code;
}
