"""Test peers that speak SMPP: an SMSC built on node-smpp, driven from Python (see node_smsc.py)."""
