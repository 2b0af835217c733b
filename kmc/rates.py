"""Physical configuration -> engine rate constants (SI-style units noted per quantity).

Everything the engine needs as a number is derived here, in one place, so that docs/model.md
and the tests can point at a single conversion.
"""
import math

from kmc.schema import METALS, SEEDS

FARADAY = 96485.33212      # C/mol
GAS_R = 8.314462618        # J/(mol K)
BOLTZMANN_EV = 8.617333262e-5  # eV/K


class Units:
    """Voxel-scale conversions for one configuration.

    a_um: voxel edge (um); q_C: charge of one metal voxel (C);
    mAh_cm2_per_layer: areal capacity of one full voxel layer (mAh/cm2).
    """

    def __init__(self, cfg):
        self.a_um = cfg["lattice"]["voxel_um"]
        self.a_cm = self.a_um * 1e-4
        self.molar_volume = METALS[cfg["cell"]["metal"]]["molar_volume_cm3_mol"]
        self.q_C = FARADAY * self.a_cm ** 3 / self.molar_volume
        self.mAh_cm2_per_layer = self.q_C / 3.6 / self.a_cm ** 2

    def voxels_to_mAh_cm2(self, n_voxels, n_columns):
        """Charge of n_voxels metal voxels spread over n_columns columns (mAh/cm2)."""
        return n_voxels * self.mAh_cm2_per_layer / n_columns


def lattice_shape(cfg, units):
    """(nx, ny, nz, collector_layers, max_step, span) in voxels from the physical sizes;
    collector_layers: the dense base (z below it is all collector)."""
    lat = cfg["lattice"]
    a = units.a_um
    nx = max(4, round(lat["size_x_um"] / a))
    ny = 1 if lat["dimension"] == 2 else max(4, round(lat["size_y_um"] / a))
    headroom = lat["headroom_um"]
    if headroom <= 0:
        plated_um = cfg["protocol"]["plate_capacity_mAh_cm2"] / units.mAh_cm2_per_layer * a
        headroom = cfg["electrode"]["initial_metal_um"] + 2.5 * plated_um + 2.0
    from kmc.collector import collector_layers as layers_of   # needs the compiled phases
    collector_layers = 1          # the dense base layer (a rough collector rises above it)
    nz = layers_of(cfg, a) + max(4, math.ceil(headroom / a))
    max_step = max(1, round(cfg["mechanics"]["separator_max_step_um"] / a))
    span = max(1, round(cfg["mechanics"]["separator_span_um"] / a))
    return nx, ny, nz, collector_layers, max_step, span


T_REF = 298.15             # K: temperature of the diffusivities and creep rates in configs


def arrhenius(q_eV, T):
    """Rate factor at T (K) relative to T_REF for activation energy q_eV (eV); exactly 1 at
    T_REF."""
    if T == T_REF:
        return 1.0
    return math.exp(-q_eV / BOLTZMANN_EV * (1.0 / T - 1.0 / T_REF))


def film_factor(mech, units):
    """Creep-rate factor of a film t voxels thick (t = 0, 1, ...; the last entry holds for
    thicker films): squeeze flow of a power-law solid (exponent n) between no-slip plates
    closes gaps at a speed ~ t^(2 + 1/n), against the creep length l of a thick body.
    A film zero voxels thick (separator on the collector) counts as one voxel."""
    if not mech["thin_film_creep"]:
        return [1.0]
    ell = mech["creep_length_um"] / units.a_um          # voxels
    power = 2.0 + 1.0 / mech["creep_exponent"]
    n = math.ceil(ell) + 1
    return [min(1.0, (max(t, 1) / ell) ** power) for t in range(n)]


def capped(table, cap):
    """Hop-rate table (1/s) scaled by one factor so that its fastest entry is at most cap
    (1/s; 0 = no cap): the stiffness acceleration of acceleration.hop_rate_cap_per_s."""
    top = max(table)
    if cap <= 0.0 or top <= cap:
        return table
    return [k * (cap / top) for k in table]


def metropolis_params(T):
    """Engine parameters of the Metropolis lattice-gas hop rule at temperature T (bond units):
    a mobile voxel hops into an EMPTY neighbour at k_bond[2 dim - 1] x min(1, exp(-2 dE / T)),
    dE = the change of its own number of EMPTY neighbours. The factors are tabulated here
    for dE = -6 .. 6 (index dE + 6) and passed to the engine (and to the test oracle), so
    that both read the same doubles. Merge into an engine_params dict to switch the rule on;
    without these keys the engine counts bonds."""
    T = float(T)
    if not T > 0.0:
        raise ValueError(f"Metropolis temperature must be > 0, got {T}")
    return {"metropolis_T": T,
            "metropolis_table": [min(1.0, math.exp(-2.0 * dE / T)) for dE in range(-6, 7)]}


def engine_params(cfg, units, n_columns):
    """The rate dictionary of kmc._engine.Engine.set_params (all rates in 1/s)."""
    T = cfg["cell"]["temperature_K"]
    dim = cfg["lattice"]["dimension"]
    kin, mech = cfg["kinetics"], cfg["mechanics"]
    diff, nuc, soft = cfg["diffusion"], cfg["nucleation"], cfg["soft"]
    j = cfg["protocol"]["current_density_mA_cm2"]
    alpha = kin["transfer_coefficient"]
    kT = BOLTZMANN_EV * T
    # a fully coordinated voxel beside one vacancy has 2*dim - 1 solid neighbours: it hops at D/a^2
    bulk = 2 * dim - 1
    warm = arrhenius(diff["activation_eV"], T)          # temperature factor of the metal
    warm_soft = arrhenius(soft["activation_eV"], T)
    k_bulk = diff["self_diffusivity_cm2_s"] * warm / units.a_cm ** 2
    k_bond = [k_bulk * math.exp((bulk - n) * diff["bond_energy_eV"] / kT) for n in range(7)]
    k_soft = [k * soft["self_diffusivity_cm2_s"] * warm_soft / (diff["self_diffusivity_cm2_s"]
                                                              * warm)
              if diff["self_diffusivity_cm2_s"] > 0 else 0.0 for k in k_bond]
    adhesion = {key: [math.exp(-m * e_adh / kT) for m in range(7)]
                for key, e_adh in (("adhesion", diff["adhesion_eV"]),
                                   ("adhesion_soft", soft["adhesion_eV"])) if e_adh > 0.0}
    cap = cfg["acceleration"]["hop_rate_cap_per_s"]
    k_bond, k_soft = capped(k_bond, cap), capped(k_soft, cap)
    sei = cfg["interphase"]
    if sei["kind"] == "mixed":          # L^2 = 2 K t  <=>  dn/dt = (K / a^2) / n per column
        sei_k = sei["parabolic_um2_h"] / 3600.0 / units.a_um ** 2
    elif sei["kind"] in ("electronic", "thin"):   # L = v t (thin: per contact area)
        sei_k = sei["velocity_um_h"] / 3600.0 / units.a_um
    else:
        sei_k = 0.0
    kappa = kin["electrolyte_conductivity_mS_cm"] * 1e-3      # S/cm
    j_A = j * 1e-3                                             # A/cm2
    area_cm2 = n_columns * units.a_cm ** 2
    seed = SEEDS.get(cfg["seed"]["material"])
    on1, on2 = seed["onset_V"] if seed else (0.0, 0.0)
    seed_diff = seed["diffusivity_cm2_s"] if seed and seed["soluble"] else 0.0
    return {
        **adhesion,
        "k_bond": k_bond,
        "k_soft": k_soft,
        "k_adatom": nuc["interfacial_diffusivity_um2_s"] / units.a_um ** 2,
        "crit_size": nuc["critical_size"],
        "pressure": cfg["cell"]["stack_pressure_MPa"],
        "sigma_y": mech["yield_strength_MPa"],
        "creep_n": mech["creep_exponent"],
        "eps_y": mech["creep_rate_at_yield_per_s"] * warm,
        "ell_over_a": mech["creep_length_um"] / units.a_um,
        "creep_cap": mech["creep_velocity_cap_um_h"] / 3600.0 / units.a_um,
        "film_factor": film_factor(mech, units),
        "soft_sigma_y": soft["yield_strength_MPa"],
        "soft_stress": soft["internal_stress_MPa"],
        "soft_creep_n": soft["creep_exponent"],
        "soft_eps_y": soft["creep_rate_at_yield_per_s"] * warm_soft,
        "echem_rate": j_A * area_cm2 / units.q_C,
        "j_over_j0": j / kin["exchange_current_mA_cm2"],
        "alpha": alpha,
        "f_rt": FARADAY / (GAS_R * T),
        "onset": [0.0, 0.0, kin["nucleation_overpotential_V"], on1, on2, 0.0, 0.0],
        "gain": [1.0, 1.0, 1.0, 1.0, 1.0, soft["relative_exchange_current"],
                 sei["relative_exchange_current"]],
        "sei_k": sei_k,
        "sei_linear": sei["kind"] in ("electronic", "thin"),
        "sei_electronic": sei["kind"] in ("mixed", "electronic"),
        "sei_thin": sei["kind"] == "thin",
        "sei_ionic": sei["kind"] == "mixed",
        # only a metallic film (NYZC -> Zr/Y) carries the cell current; a mixed film (NPS ->
        # Na3P, ~1e-7 S/cm) leaks electrons enough to grow, not to connect metal (003)
        "sei_bridge": sei["kind"] == "electronic",
        "k_seed": seed_diff / units.a_cm ** 2,
        # riding (insoluble) particles move along the electrolyte interface
        "k_ride": (cfg["seed"]["particle_diffusivity_cm2_s"] / units.a_cm ** 2
                   if seed and not seed["soluble"] else 0.0),
        "ride_bond": cfg["seed"]["particle_bond_eV"] / kT,
        "v_ohm": j_A * cfg["cell"]["separator_thickness_um"] * 1e-4 / kappa,
        "v_con": j_A * kin["constriction_length_um"] * 1e-4 / kappa,
    }
