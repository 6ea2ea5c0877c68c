"""Real services for the test suite: a Mosquitto broker, a GStreamer RTSP server, a scratch PostgreSQL database.

Plain Python with no pytest in it, so benchmarks and manual scripts can start the same services;
``tests/conftest.py`` wraps them in fixtures.
"""
