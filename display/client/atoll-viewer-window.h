/* atoll-viewer-window.h - the window of atoll-viewer: one console. */
#pragma once

#include <adwaita.h>

#include "atoll-console.h"

G_BEGIN_DECLS

#define ATOLL_TYPE_VIEWER_WINDOW (atoll_viewer_window_get_type())
G_DECLARE_FINAL_TYPE(AtollViewerWindow, atoll_viewer_window, ATOLL, VIEWER_WINDOW,
                     AdwApplicationWindow)

AtollViewerWindow *atoll_viewer_window_new(AdwApplication *app);
AtollConsole *atoll_viewer_window_get_console(AtollViewerWindow *self);
void atoll_viewer_window_connect(AtollViewerWindow *self, const char *uri,
                                 const char *password);

G_END_DECLS
