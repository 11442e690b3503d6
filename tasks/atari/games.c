/*
** games.c - the registry of linked engines: the only list of games in hone.
** A game added here must also be a tasks/atari/<name>.c exporting atari_<name>.
*/
#include "atari_lua.h"

const AtariGame *const atari_games[] = {
    &atari_asterix,
    &atari_breakout,
    &atari_enduro,
    &atari_freeway,
    &atari_pong,
    &atari_qbert,
    &atari_seaquest,
    &atari_space_invaders,
    NULL,
};
