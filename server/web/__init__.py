"""The web app served by the server itself: inspectors review evidence, building managers calibrate cameras.

``static/`` holds plain ES modules and CSS (no build step); ``router.py`` serves them at ``/``, plus the few
routes a browser fetches by itself (the clip in a ``<video>``, the snapshot in an ``<img>``, the case archive
download), which authenticate with an HttpOnly session cookie because such requests cannot carry a bearer header.
"""
