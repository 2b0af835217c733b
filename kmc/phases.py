"""Phase codes of a lattice site (uint8), shared by the engine, observables and analysis."""
from kmc._engine import PHASES

EMPTY = PHASES["EMPTY"]              # void, gap, pore
METAL = PHASES["METAL"]              # active metal with an electronic path to the collector
DEAD = PHASES["DEAD"]                # isolated ("dead") metal
COLLECTOR = PHASES["COLLECTOR"]
ELECTROLYTE = PHASES["ELECTROLYTE"]  # separator (above the height field h)
SEED = PHASES["SEED"]
SOFT = PHASES["SOFT"]
INTERPHASE = PHASES["INTERPHASE"]
NAMES = {v: k.lower() for k, v in PHASES.items()}
