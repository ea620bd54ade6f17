"""Latchkey's ground floor: plain helpers every app may use. It imports nothing of Latchkey's."""
