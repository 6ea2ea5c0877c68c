"""The edge runtime: per-camera worker processes that ingest RTSP or files, run a detector, cut evidence clips
from a ring buffer of encoded packets, spool events to disk and deliver them over MQTT until acknowledged.

Modules, one idea each: ``config`` (edge.yaml), ``ingest`` (PyAV demux/decode with reconnect), ``ring``
(encoded-packet ring buffer and remuxed evidence clips), ``evidence`` (snapshot and overlay), ``spool`` (crash-safe
disk queue), ``wire`` (the MQTT wire protocol), ``delivery`` (the MQTT publisher), ``worker`` (one camera),
``supervisor`` (the worker processes).
"""
