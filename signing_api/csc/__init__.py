"""The Cloud Signature Consortium API (CSC 2.0, and 1.0.4's field names) over psre's keys.

Modules: ``errors`` (the CSC error answers), ``fields`` (v1/v2 request spellings), ``tokens``
(bearer tokens of client apps), ``credentials`` (a signer's or agency's certificate and HSM
key as a CSC credential), ``sad`` (Signature Activation Data, SCAL 2), ``hash_sign`` (signAlgo
and its parameters to an HSM signature), ``api`` (the Flask blueprint).
"""
