/*
 * plugin.c - the whole of a --load plugin: one exported function that
 * registers the plugin's types.  Built once per example, with
 * EX_PLUGIN_REGISTER naming that example's register function, to show
 * that a workflow written outside actorfs needs nothing more.
 *
 * The eng_* symbols are not linked in: they resolve against the actorfs
 * executable that dlopen()s this file, so the plugin and the daemon share
 * one engine.
 */
#include "examples.h"

int actorfs_register(eng *e);

int actorfs_register(eng *e)
{
    return EX_PLUGIN_REGISTER(e);
}
