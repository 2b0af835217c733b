"""The run-configuration schema: every key, its unit, default, allowed range and source.

This table is the single place where configuration keys are defined. `kmc.config` validates
against it and `python -m kmc.config --markdown` renders `docs/config.md` from it.
"""
from dataclasses import dataclass
from typing import Any, Optional, Tuple

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Key:
    """One configuration key.

    path: dotted key path, e.g. ``protocol.current_density_mA_cm2``.
    kind: ``float``, ``int``, ``bool`` or ``str``.
    unit: physical unit ('' for dimensionless, '-' for labels and switches).
    lo, hi: inclusive range (``lo_open``/``hi_open`` make that end exclusive).
    choices: allowed values for ``str``/``int`` keys with a fixed set.
    source: where the default comes from.
    """
    path: str
    kind: str
    default: Any
    unit: str
    doc: str
    source: str
    lo: Optional[float] = None
    hi: Optional[float] = None
    lo_open: bool = False
    hi_open: bool = False
    choices: Optional[Tuple[Any, ...]] = None

    def range_text(self) -> str:
        """Human-readable allowed range, used in error messages and docs."""
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.kind == "bool":
            return "true or false"
        if self.lo is None and self.hi is None:
            return "any"
        left = "(" if self.lo_open else "["
        right = ")" if self.hi_open else "]"
        return f"{left}{self.lo:g}, {self.hi:g}{right}"


MATERIAL_CHOICES = ("auto", "none", "li_lpsc", "na_nbh", "na_nps", "na_nyzc")

K = Key
KEYS = (
    # --- run identity ---------------------------------------------------------------------
    K("run.name", "str", "run", "-", "Label stored in the outputs.", "user"),
    K("run.seed", "int", 1, "-", "Base seed of the PCG64 stream (SeedSequence entropy).",
      "user", 0, 2**63 - 1),
    # --- lattice --------------------------------------------------------------------------
    K("lattice.dimension", "int", 3, "-", "2 = cross-section (x, z); 3 = (x, y, z).",
      "design card", choices=(2, 3)),
    K("lattice.voxel_um", "float", 0.1, "um",
      "Voxel edge a. One metal voxel holds charge F a^3 / V_m.",
      "SCIENCE.md s2 (0.05-0.2 um for collector-scale runs)", 0.01, 5.0),
    K("lattice.size_x_um", "float", 6.4, "um", "Lateral size along x (periodic).",
      "choice", 0.04, 1e5),
    K("lattice.size_y_um", "float", 6.4, "um",
      "Lateral size along y (periodic); ignored in 2D (one voxel).", "choice", 0.04, 1e5),
    K("lattice.headroom_um", "float", 0.0, "um",
      "Height of the simulated box above the collector; 0 = automatic "
      "(starting electrode + 2.5 x plated thickness + 2 um).", "choice", 0.0, 5000.0),
    # --- cell -----------------------------------------------------------------------------
    K("cell.metal", "str", "Li", "-", "Plated metal; sets molar volume.", "SCIENCE.md s2",
      choices=("Li", "Na")),
    K("cell.materials", "str", "auto", "-",
      "Materials parameter file (kmc/materials/NAME.toml) that supplies the kinetics, "
      "nucleation, diffusion and mechanics values this config does not set itself; "
      "'auto' = li_lpsc for Li, na_nbh for Na; 'none' = schema defaults only.",
      "design: one parameter set per materials system", choices=MATERIAL_CHOICES),
    K("cell.collector", "str", "Cu", "-", "Current-collector label (bare, dense, flat).",
      "001", choices=("Cu", "Al", "Ti", "steel")),
    K("cell.temperature_K", "float", 298.15, "K", "Cell temperature.", "001 (25 C)",
      200.0, 500.0),
    K("cell.stack_pressure_MPa", "float", 15.0, "MPa", "Applied stack pressure.",
      "001 (15 MPa)", 0.0, 500.0),
    K("cell.separator_thickness_um", "float", 600.0, "um",
      "Solid-electrolyte thickness for the ohmic drop.",
      "001: 90 mg LPSC in a 10 mm die ~ 0.6 mm", 1.0, 5000.0),
    # --- collector geometry ---------------------------------------------------------------
    K("collector.kind", "str", "flat", "-",
      "Collector geometry: 'flat' (one flat layer), 'foil' (rigid rough surface; the rigid "
      "separator touches it on the fraction P / hardness of its area), 'pellet' (pressed "
      "powder: rough and porous, met conformally by the separator).",
      "000 (Al foil vs cold-pressed Al, Cu, Ti powder pellets)",
      choices=("flat", "foil", "pellet")),
    K("collector.roughness_um", "float", 1.0, "um",
      "Rms height of the collector surface (foil, pellet).",
      "000: Al 0.98, Cu 1.05, Ti 0.90 um", 0.0, 100.0),
    K("collector.correlation_um", "float", 2.0, "um",
      "Lateral correlation length of the surface relief.", "model choice (~ powder grain)",
      0.01, 1000.0),
    K("collector.waviness_um", "float", 0.0, "um",
      "Rms height of a long-wavelength waviness added to the roughness (foil); 0 = none.",
      "model choice (000 gives no foil profile; calibrated on the Al foil ICE)", 0.0, 100.0),
    K("collector.waviness_correlation_um", "float", 60.0, "um",
      "Lateral correlation length of the waviness.",
      "model choice (tens of um: 000's pressure film shows patches)", 0.01, 10000.0),
    K("collector.porosity", "float", 0.0, "",
      "Pore volume fraction below the surface (pellet).",
      "000: Al 0-3 %, Cu 19-23 %, Ti 34-35 %", 0.0, 0.6),
    K("collector.pore_um", "float", 1.0, "um", "Pore diameter (pellet).",
      "model choice (~ the surface roughness, 000)", 0.01, 100.0),
    K("collector.depth_um", "float", 3.0, "um",
      "Depth of the collector modelled below its mean surface (foil, pellet).",
      "model choice (a few pore sizes)", 0.0, 1000.0),
    K("collector.hardness_MPa", "float", 160.0, "MPa",
      "Hardness of the rigid foil: the separator touches P / hardness of its area.",
      "000: Vickers hardness Al ~160, Cu ~370, Ti ~970 MPa", 1.0, 1e5),
    # --- starting electrode (metal-excess cells) ----------------------------------------------
    K("electrode.initial_metal_um", "float", 0.0, "um",
      "Metal electrode on the collector at the start (0 = anode-free: bare collector).",
      "004: Li and Li/Na foils (up to ~150 um)", 0.0, 5000.0),
    K("electrode.soft_mol_percent", "float", 0.0, "mol %",
      "Soft secondary phase (Na domains) in the starting electrode, as mol % of Na; "
      "converted to a volume fraction with the molar volumes.", "004 (2.5-20 mol % Na)",
      0.0, 50.0),
    K("electrode.soft_domain_min_um", "float", 2.0, "um",
      "Smallest soft-domain diameter (diameters log-uniform between min and max).",
      "004: Na domains from a few um", 0.01, 1000.0),
    K("electrode.soft_domain_max_um", "float", 10.0, "um",
      "Largest soft-domain diameter.", "004: Na domains up to about 10 um", 0.01, 1000.0),
    K("electrode.microstructure_file", "str", "", "-",
      "Voxel image (.npy, shape (nz, ny, nx) or (nz, nx), nonzero = soft) of the starting "
      "electrode instead of generated domains; nz = initial_metal_um / voxel_um.",
      "004: tomography volumes"),
    # --- protocol -------------------------------------------------------------------------
    K("protocol.cycles", "int", 3, "-", "Number of plate/strip cycles.", "user", 1, 100000),
    K("protocol.current_density_mA_cm2", "float", 0.25, "mA/cm2",
      "Galvanostatic current density (magnitude) for plating and stripping.",
      "001 (0.25 mA/cm2)", 0.0, 100.0, lo_open=True),
    K("protocol.plate_capacity_mAh_cm2", "float", 1.0, "mAh/cm2",
      "Charge plated per cycle (0 = no plating: each cycle only strips, as for a metal "
      "electrode stripped from its pristine state).", "001 (1 mAh/cm2)", 0.0, 100.0),
    K("protocol.replate_stripped", "bool", False, "-",
      "From cycle 2 on, plate only what the previous strip recovered (capacity retention "
      "of an anode-free cell with an ideal cathode: retention = product of the CEs).",
      "000 retention protocol"),
    K("protocol.voltage_cutoff_V", "float", 0.5, "V",
      "Half-cycle ends when |V| exceeds this (strip: V > +cutoff; plate: V < -cutoff).",
      "001 (+-0.5 V)", 0.001, 10.0),
    K("protocol.strip_time_cap_h", "float", 4.0, "h",
      "Maximum duration of a strip half-cycle.", "001 (4 h cap)", 0.0, 10000.0,
      lo_open=True),
    K("protocol.plate_time_cap_h", "float", 0.0, "h",
      "Maximum duration of a plate half-cycle; 0 = none (plating ends at its capacity).",
      "user", 0.0, 10000.0),
    # --- electrochemical kinetics -------------------------------------------------------------
    K("kinetics.exchange_current_mA_cm2", "float", 30.0, "mA/cm2",
      "Butler-Volmer exchange current density j0 at the metal/electrolyte contact.",
      "001 control: Li|LPSC interfacial resistance < 1 ohm cm2 -> j0 = RT/(F R_ct) > 26 mA/cm2",
      1e-4, 1e4),
    K("kinetics.transfer_coefficient", "float", 0.5, "",
      "Symmetric charge-transfer coefficient alpha.", "standard", 0.05, 0.95),
    K("kinetics.electrolyte_conductivity_mS_cm", "float", 1.8, "mS/cm",
      "Ionic conductivity of the separator.", "001 model (LPSC 1.8 mS/cm)", 1e-6, 1e3),
    K("kinetics.constriction_length_um", "float", 1.0, "um",
      "Length scale of current constriction: R_constr = (l_c / kappa) (1/f_active - 1).",
      "model choice (~ contact-spot spacing)", 0.0, 1000.0),
    K("kinetics.nucleation_overpotential_V", "float", 0.018, "V",
      "Extra overpotential to reduce metal onto bare collector.", "001 (~18 mV on Cu)",
      0.0, 1.0),
    K("kinetics.potential_band_um", "float", 15.0, "um",
      "Thickness of the electrolyte band above the interface in which the potential "
      "div(kappa grad phi) = 0 is solved for the local current distribution.",
      "001 island model (50 x 15 um domain)", 0.1, 1e4),
    K("kinetics.potential_update_layers", "float", 2.0, "layers",
      "Charge between two potential solves, in voxel layers of metal (0 = never solve: "
      "uniform potential along the interface).",
      "docs/model.md s5a: for Li/LPSC the local factors stay within 1e-4 of 1, so a solve "
      "every 2 layers (3.5 ms at 64 x 64 columns) costs < 5 % of a run", 0.0, 100.0),
    # --- alloy seed layer on the collector ---------------------------------------------------
    K("seed.material", "str", "none", "-",
      "Alloy-forming interlayer on the collector ('none' = bare collector).",
      "001 (100 nm Ag or Au on Cu)", choices=("none", "Ag", "Au")),
    K("seed.thickness_nm", "float", 100.0, "nm",
      "Seed film thickness; sets its capacity (Ag 26, Au 78 uAh/cm2 per 100 nm).",
      "001 (100 nm)", 0.0, 5000.0),
    K("seed.riding_fraction", "float", 0.5, "",
      "Fraction of an insoluble seed's (Au) voxels that ride with the electrolyte interface; "
      "soluble seeds (Ag) dissolve instead and ignore it.",
      "001: about half of the Li-Au particles travel with the Li/SSE interface", 0.0, 1.0),
    K("seed.particle_diffusivity_cm2_s", "float", 5e-16, "cm2/s",
      "Diffusivity of a riding (insoluble, Au) seed particle along the metal/electrolyte "
      "interface: it swaps with the face metal beside it at D / a^2 per partner, slowed by "
      "exp(-m E / kT) for its m in-layer seed neighbours (particle_bond_eV), so the "
      "particles can gather with cycling. 0 keeps them on their columns.",
      "calibrated (paper001_au, seed 1): Au coverage of the Cu 0.98 / 0.96 after strips "
      "1 / 2, falling on to ~0.9 by the 5th, as 001 sees a uniform layer after cycles 1-2 "
      "and clusters after the 5th (docs/model.md s3.4); no measurement in the sources",
      0.0, 1e-6),
    K("seed.particle_bond_eV", "float", 0.06, "eV",
      "Pair energy of two seed voxels side by side at the interface (what holds a cluster "
      "of riding particles together).",
      "model choice: 2.3 kT at 298 K, above the square lattice gas's critical 1.76 kT, so "
      "clusters hold; 0.1 eV freezes the first contacts (clusters at once, then none)",
      0.0, 1.0),
    # --- nucleation on the bare collector ----------------------------------------------------
    K("nucleation.critical_size", "int", 1, "voxels",
      "Largest unstable cluster: a unit with fewer than this many metal neighbours "
      "is a mobile adatom on the collector.", "SCIENCE.md s4.2 (default 1)", 1, 4),
    K("nucleation.interfacial_diffusivity_um2_s", "float", 1.0, "um2/s",
      "Diffusivity of an adatom along the collector/electrolyte interface.",
      "model choice; sets nucleus density through D/F", 0.0, 1e6),
    # --- metal diffusion ----------------------------------------------------------------------
    K("diffusion.self_diffusivity_cm2_s", "float", 1e-10, "cm2/s",
      "Metal self-diffusivity; a fully coordinated voxel hops into a void at D/a^2.",
      "004 (~1e-10 cm2/s); NMR 8e-11 (Messer & Noack 1975)", 0.0, 1e-3),
    K("diffusion.activation_eV", "float", 0.55, "eV",
      "Activation energy of self-diffusion; diffusion and creep rates scale with "
      "exp(-Q/k (1/T - 1/298.15 K)) (power-law creep is controlled by self-diffusion).",
      "Li: NMR ~0.55 eV (Messer & Noack 1975)", 0.0, 5.0),
    K("diffusion.bond_energy_eV", "float", 0.03, "eV",
      "Barrier change per missing solid neighbour (bond counting); lower coordination "
      "hops faster by exp(E_b / kT) per missing bond.",
      "Li vacancy migration ~0.03-0.06 eV (DFT literature)", 0.0, 1.0),
    K("diffusion.adhesion_eV", "float", 0.0, "eV",
      "Pair energy of a metal voxel with each electrolyte neighbour (adhesion to the "
      "separator): a voxel touching the electrolyte hops away exp(E_adh / kT) times slower "
      "per contact, so vacancies leave the interface. 0 = no adhesion (metal-electrolyte "
      "contact is no bond).", "model choice (experimental; default off)", 0.0, 1.0),
    # --- mechanics ----------------------------------------------------------------------------
    K("mechanics.yield_strength_MPa", "float", 0.8, "MPa", "Metal yield strength.",
      "004 (Li 0.8 MPa); Masias 2019 (0.73-0.81)", 1e-3, 1e3),
    K("mechanics.creep_exponent", "float", 6.6, "", "Power-law creep exponent n.",
      "Masias 2019 (Li, RT)", 1.0, 20.0),
    K("mechanics.creep_rate_at_yield_per_s", "float", 2.6e-3, "1/s",
      "Creep strain rate at the yield strength.",
      "Masias 2019: 3.9e-4 1/s at 0.6 MPa, n = 6.6 -> 2.6e-3 1/s at 0.8 MPa", 0.0, 1e6),
    K("mechanics.creep_length_um", "float", 1.0, "um",
      "Length over which creep strain closes a void: move rate = strain rate x l / a.",
      "model choice (~ contact-spot spacing)", 1e-3, 1e4),
    K("mechanics.thin_film_creep", "bool", True, "-",
      "Creep of a metal film thinner than creep_length_um, squeezed between the rigid "
      "collector and separator, slows as (t / l)^(2 + 1/n) with t the separator's height "
      "above the collector surface (squeeze flow of a power-law solid between no-slip plates).",
      "squeeze-flow scaling of a power-law fluid layer (e.g. Engmann et al., J. Non-Newt. "
      "Fluid Mech. 132, 1 (2005)); 001: islands strand Li at the end of strip"),
    K("mechanics.creep_velocity_cap_um_h", "float", 3600.0, "um/h",
      "Fastest interface recession that creep can follow (closing gaps under the separator); "
      "bounds the power law, which is measured only up to 0.6 MPa. Move rate = v / a.",
      "model choice (1 um/s: contact > 0.9 throughout 15 MPa plating at 1 mA/cm2); 004's '> 7 MPa for void-free "
      "1 mA/cm2' suggests ~4.8 um/h, see docs/model.md s6", 1e-6, 1e9),
    K("mechanics.separator_max_step_um", "float", 0.1, "um",
      "Largest height difference of the separator underside within one window "
      "(rounded to whole voxels, at least one).", "model choice (one voxel at 0.1 um)",
      0.0, 100.0),
    K("mechanics.separator_span_um", "float", 0.1, "um",
      "Half-width of the window over which the separator is rigid to within max_step "
      "(rounded to whole voxels, at least one): larger = stiffer separator.",
      "model choice (SSE particles ~10 um, 001; kept small for speed)", 0.0, 100.0),
    # --- interphase (SEI) growth at a reducible electrolyte ------------------------------------
    K("interphase.kind", "str", "none", "-",
      "What the reduced electrolyte conducts: 'none' (stable electrolyte, no interphase), "
      "'mixed' (ions, and electrons enough to keep growing parabolically but not to carry "
      "the cell current: metal plates and strips under it, it is no electron bridge), "
      "'electronic' (electrons only: blocks ions, metal plates on top of it "
      "and reacts again: linear, runaway growth), 'thin' (a passivating film far thinner "
      "than a voxel, e.g. LPSC's nm-scale Li2S/Li3P/LiCl: not resolved; metal touching the "
      "electrolyte is consumed at velocity_um_h into the interphase inventory and the "
      "separator closes the gap).",
      "003: NBH none, NPS -> Na3P/Na2S (mixed), NYZC -> Zr/Y + NaCl (electronic); 002: LPSC "
      "reduced by Li (thin)",
      choices=("none", "mixed", "electronic", "thin")),
    K("interphase.parabolic_um2_h", "float", 0.0, "um2/h",
      "Parabolic growth constant K of a mixed interphase (metal consumed, as a thickness L: "
      "L^2 = 2 K t).", "see the electrolyte's materials file", 0.0, 1e6),
    K("interphase.velocity_um_h", "float", 0.0, "um/h",
      "Linear growth velocity of an electronic interphase (metal consumed per column), or "
      "the rate at which a thin one consumes the metal it touches (per contact area).",
      "see the electrolyte's materials file", 0.0, 1e6),
    K("interphase.relative_exchange_current", "float", 1.0, "",
      "Exchange current of metal plated or stripped under a mixed interphase, relative to "
      "j0.",
      "model choice (003: the NPS interphase still carries ions)", 0.0, 1.0, lo_open=True),
    # --- soft secondary phase (Na domains in a Li electrode) -------------------------------
    K("soft.self_diffusivity_cm2_s", "float", 5.8e-9, "cm2/s",
      "Self-diffusivity of the soft phase (its voxels hop like the metal's, scaled by "
      "this over diffusion.self_diffusivity_cm2_s, with the same bond energy).",
      "Na: Mundy 1971 (D0 = 0.145 cm2/s, Q = 10.09 kcal/mol) at 298 K", 0.0, 1e-3),
    K("soft.activation_eV", "float", 0.44, "eV",
      "Activation energy of the soft phase's self-diffusion (and creep).",
      "Na: Mundy 1971 (10.09 kcal/mol)", 0.0, 5.0),
    K("soft.adhesion_eV", "float", 0.0, "eV",
      "Pair energy of a soft-phase voxel with each electrolyte neighbour (as "
      "diffusion.adhesion_eV for the metal).", "model choice (experimental; default off)",
      0.0, 1.0),
    K("soft.yield_strength_MPa", "float", 0.2, "MPa", "Yield strength of the soft phase.",
      "004: Na 0.16-0.24 MPa", 1e-3, 1e3),
    K("soft.internal_stress_MPa", "float", 0.0, "MPa",
      "Compressive stress in the soft domains from the matrix around them, whatever the "
      "stack pressure: the soft phase creeps at no less than this stress.",
      "model choice (default off); li_lpsc.toml sets Na's", 0.0, 1e3),
    K("soft.creep_exponent", "float", 6.6, "", "Power-law creep exponent of the soft phase.",
      "assumption: Li's exponent (Masias 2019); no Na value in the sources", 1.0, 20.0),
    K("soft.creep_rate_at_yield_per_s", "float", 2.6e-3, "1/s",
      "Creep strain rate of the soft phase at its yield strength.",
      "assumption: Li's rate at yield (Masias 2019); the softness is in the yield strength",
      0.0, 1e6),
    K("soft.relative_exchange_current", "float", 0.9, "",
      "Exchange current of metal stripped through a soft film at the interface, relative "
      "to bare metal contact (the soft phase blocks the ions; metal under it is reached "
      "through its grain boundaries).", "004 EIS: 10 % Na keeps 37 -> 41 ohm cm2 under a Na layer (see li_lpsc.toml)",
      0.0, 1.0, lo_open=True),
    # --- acceleration (opt-in, validated per use: docs/performance.md) -----------------------
    K("acceleration.hop_rate_cap_per_s", "float", 0.0, "1/s",
      "Stiffness acceleration: a phase (matrix metal or soft phase) whose fastest hop rate "
      "exceeds this has all its hop rates scaled down by one factor, so the cap is its "
      "fastest; relative rates within the phase are kept. 0 = off (exact dynamics).",
      "issue 7 (capping fast reversible hops); validated on paper 004, docs/performance.md",
      0.0, 1e12),
    # --- outputs --------------------------------------------------------------------------
    K("output.timeseries_interval_s", "float", 60.0, "s",
      "Simulated time between time-series rows.", "user", 0.0, 1e9, lo_open=True),
    K("output.snapshot_interval_s", "float", 0.0, "s",
      "Simulated time between lattice snapshots; 0 = only at the end of each half-cycle.",
      "user", 0.0, 1e9),
    K("output.checkpoint_interval_wall_s", "float", 120.0, "s",
      "Wall-clock time between checkpoints.", "user", 1.0, 1e6),
)

KEY_BY_PATH = {k.path: k for k in KEYS}
SECTIONS = tuple(dict.fromkeys(k.path.split(".")[0] for k in KEYS))

# Alloy seed films (``seed.material``). molar_volume: of the seed element (cm3/mol);
# li_per_atom: lithiated composition (LiAg, Li3Au), which sets the film capacity;
# onset_V: delithiation onsets of the first and second release plateau (V vs Li/Li+);
# soluble: dissolves into the metal (solid solution) and moves through it at diffusivity.
SEEDS = {
    "Ag": {"molar_volume_cm3_mol": 10.27, "li_per_atom": 1.0, "onset_V": (0.05, 0.05),
           "soluble": True, "diffusivity_cm2_s": 1e-11,
           "source": "001: 26 uAh/cm2 per 100 nm (LiAg), delithiation onset 0.05 V, Ag "
                     "dissolves in Li (solid solution); diffusivity chosen so that Ag spreads "
                     "over the ~5 um plated in one 4 h plating (L^2 / 2t ~ 1e-11 cm2/s), as "
                     "001 observes; no measurement in the sources"},
    "Au": {"molar_volume_cm3_mol": 10.21, "li_per_atom": 3.0, "onset_V": (0.07, 0.16),
           "soluble": False, "diffusivity_cm2_s": 0.0,
           "source": "001: 78 uAh/cm2 per 100 nm (Li3Au), release plateaus ~70 and ~160 mV, "
                     "Au insoluble in Li (breaks into particles)"},
}

# Material constants selected by ``cell.metal``: molar volume (cm3/mol) and source.
METALS = {
    "Li": {"molar_volume_cm3_mol": 12.97, "source": "standard (4.86 um per mAh/cm2)"},
    "Na": {"molar_volume_cm3_mol": 23.78, "source": "standard (8.87 um per mAh/cm2)"},
}
