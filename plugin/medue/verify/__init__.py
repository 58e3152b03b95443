"""Proof of use: was a suspect model trained on a release? (``medue verify``)

The layer beside ``medue.evaluate``, reading a protect run's private record and never the job:

- ``record``   the key (checked against its commitment) and the keyed pattern of the release;
- ``probes``   clean, never-released images, and the same with a key's mark as a release writes it;
- ``suspect``  the suspect model: TorchScript, or a state dict of a named MONAI network;
- ``decoys``   decoy keys derived from the key by HMAC (RFC 2104);
- ``rank``     the key-against-decoys rank test, exact false-positive rate (Phipson & Smyth 2010);
- ``test``     white-box: the suspect's responses to the key's and the decoys' marks, ranked;
- ``blackbox`` probe files for the suspect's owner, and their answers scored;
- ``report``   verify.json and verify.html.
"""
