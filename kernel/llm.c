/* placeholder until the capability lands */
#include "llm.h"
#include <lauxlib.h>
int hone_open_llm(lua_State *L) { lua_newtable(L); return 1; }
