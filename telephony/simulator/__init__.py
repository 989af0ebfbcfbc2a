"""A PBX simulator: Asterisk 22's AMI events for generated traffic, served over
real AMI, with the IVR step driven over real FastAGI.

- `calls`: pure discrete-event core (scenario in, timed AMI events out);
- `traffic`: arrival process, IVR choices, patience, talk times, pauses;
- `agi_driver`: Asterisk's side of a FastAGI session, fed by the core;
- `ami_server`: the AMI server and the clock that drives the core.
"""
