"""The kopf operator (the only package importing ``kopf``): drives the engine per ModelRollout."""
