#include "store.h"
#include <lauxlib.h>
int hone_open_store(lua_State *L) { lua_newtable(L); return 1; }
