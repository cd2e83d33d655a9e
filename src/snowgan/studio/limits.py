"""Every size and time a studio request can ask for, bounded, in one place (docs/studio.md lists them).

The studio listens on the user's machine, where any web page their browser has open can send it
requests (guard.py refuses the foreign ones it can recognise). Whatever gets through, one request
can only ask for so much: these bounds keep one request's memory and time small on a laptop, and
a flood of them at a bounded number of threads with a bounded queue.
"""

from __future__ import annotations

# ---- what one request may ask for -------------------------------------------------------------
MAX_GRID = 64                    # images in one /api/grid (the page asks for 9)
MAX_NEAREST = 16                 # training images in one /api/nearest (the page asks for 4)
MAX_INTERP_SOURCES = 16          # picked latents one interpolation walks through (the page: what a user picked)
MAX_INTERP_STEPS = 64            # frames per leg of an interpolation (the page asks for 8, its GIF for 12)
# Pixels (height x width x images) in one reply of generated images: 32 Mpx is 32 images at 1024 px,
# 512 at 256 px, or the longest walk (16 sources x 64 steps = 961 frames) up to 128 px. It keeps one
# reply's uint8 images near 100 MB, its PNG data URIs smaller.
MAX_REPLY_PIXELS = 32 << 20
RENDER_BATCH = 32                # images per generator call (a long walk is rendered in parts)

# ---- uploads -----------------------------------------------------------------------------------
MAX_UPLOAD_BYTES = 25 << 20      # a phone photo is 2-12 MB; more is almost surely not a photo
MAX_UPLOAD_PIXELS = 50_000_000   # below Pillow's own bomb limit (89 M warns, 179 M raises): a 50 MP camera fits
BODY_READ_SECONDS = 60.0         # the whole body must arrive within this (25 MB at 3.5 Mbit/s)
MAX_DRAIN_BYTES = 4 * MAX_UPLOAD_BYTES  # an oversized upload is read and dropped up to this, so the
                                        # browser gets the message, not a reset; past it the socket closes

# ---- projections ---------------------------------------------------------------------------------
MAX_QUEUED_PROJECTIONS = 4       # running + waiting; the next upload is told "busy" (503)
MAX_JOBS_KEPT = 32               # finished projections remembered (their latents stay pickable)

# ---- connections ---------------------------------------------------------------------------------
MAX_CONNECTIONS = 24             # open connections served at once (a browser opens 6 per host); more get 503
SOCKET_TIMEOUT_SECONDS = 20.0    # a connection that sends nothing for this long is closed (slow headers, idle keep-alive)
LINGER_SECONDS = 2.0             # after a refusal, what the client still sends is read and dropped this long, so
                                 # the refusal arrives (closing on unread bytes resets the connection, reply and all)
