// Python entry points of the looped linear transformer. Everything is float64;
// arrays (or nested lists) are converted, and a malformed one raises ValueError
// naming the argument. The long-running calls release the GIL.
#include "looped_bindings.hpp"

#include "arguments.hpp"
#include "numpy_conversions.hpp"

#include <lorafgc/looped/looped_transformer.hpp>
#include <lorafgc/looped/preconditioned_gd.hpp>
#include <lorafgc/looped/regression_task.hpp>
#include <lorafgc/looped/trainer.hpp>

#include <pybind11/stl.h>

namespace lorafgc::python {
namespace {

using namespace lorafgc::looped;

// Counts within the limit table, narrowed to the library's int after the check.
int count(const py::handle& v, const char* name, Quantity q) { return int(count_arg(v, name, q)); }

Eigen::MatrixXd covariance(const py::object& sigma, int d) {
  return sigma.is_none() ? Eigen::MatrixXd::Identity(d, d) : to_float64_matrix(sigma, "sigma");
}

py::dict curve_dict(const std::vector<CurvePoint>& curve) {
  std::vector<double> step, batch, eval, distance, u_norm;
  for (const auto& p : curve) {
    step.push_back(p.step);
    batch.push_back(p.batch_loss);
    eval.push_back(p.eval_loss);
    distance.push_back(p.distance);
    u_norm.push_back(p.u_norm);
  }
  py::dict out;
  out["step"] = to_numpy_vector(step);
  out["batch_loss"] = to_numpy_vector(batch);
  out["eval_loss"] = to_numpy_vector(eval);
  out["distance"] = to_numpy_vector(distance);
  out["u_norm"] = to_numpy_vector(u_norm);
  return out;
}

// A stack's A as a (layers, d, d) array and u as (layers, d).
py::dict stack_dict(const LayerStack& stack) {
  py::list A, u;
  for (const auto& l : stack) {
    A.append(to_numpy(l.A));
    u.append(to_numpy_vector(l.u));
  }
  py::module_ np = py::module_::import("numpy");
  py::dict out;
  out["A"] = np.attr("stack")(A);
  out["u"] = np.attr("stack")(u);
  return out;
}

// A (d, d) with u (d,): the looped model; A (T, d, d) with u (T, d): T layers.
LayerStack stack_arg(const py::handle& A, const py::handle& u) {
  py::module_ np = py::module_::import("numpy");
  const auto as_array = [&](const py::handle& x, const char* name) -> py::array {
    try {
      return np.attr("asarray")(x, "float64");
    } catch (const py::error_already_set&) {
      throw InvalidArgument(name, "is not an array of real numbers");
    }
  };
  const py::array a = as_array(A, "A"), v = as_array(u, "u");
  if (a.ndim() == 3 && a.shape(0) < 1) throw InvalidArgument("A", "holds no layer");
  if (a.ndim() == 2) {
    const Eigen::MatrixXd m = to_float64_matrix(A, "A");
    return {{m, to_float64_matrix(u, "u", m.rows(), 1).col(0)}};
  }
  if (a.ndim() != 3) throw InvalidArgument("A", "must be (d, d) or (layers, d, d)");
  if (v.ndim() != 2 || v.shape(0) != a.shape(0))
    throw InvalidArgument("u", "must be (layers, d) when A is (layers, d, d)");
  LayerStack stack;
  for (py::ssize_t l = 0; l < a.shape(0); ++l) {
    const Eigen::MatrixXd m = to_float64_matrix(a[py::int_(l)], "A");
    stack.push_back({m, to_float64_matrix(v[py::int_(l)], "u", m.rows(), 1).col(0)});
  }
  return stack;
}

py::dict train(const py::handle& d_arg, const py::handle& n_arg, const py::handle& loops_arg, const py::object& sigma, const py::handle& steps, const py::handle& seed,
               const py::handle& batch, const std::string& optimizer, const std::string& gradient, const py::handle& learning_rate,
               bool cosine_decay, const py::handle& init_scale, const py::handle& eval_every, const py::handle& eval_tasks, const py::handle& test_tasks,
               const std::string& sampler, bool weight_sharing, bool train_u, bool symmetric) {
  const int d = count(d_arg, "d", Quantity::width), n = count(n_arg, "n", Quantity::examples),
            loops = count(loops_arg, "loops", Quantity::loops);
  TrainerOptions o;
  o.steps = count(steps, "steps", Quantity::steps);
  o.batch = count(batch, "batch", Quantity::batch);
  o.optimizer = optimizer;
  o.gradient = gradient;
  o.learning_rate = real_arg(learning_rate, "learning_rate");
  o.cosine_decay = cosine_decay;
  o.init_scale = real_arg(init_scale, "init_scale");
  o.eval_every = count(eval_every, "eval_every", Quantity::steps);
  o.eval_tasks = count(eval_tasks, "eval_tasks", Quantity::tasks);
  o.test_tasks = count(test_tasks, "test_tasks", Quantity::tasks);
  o.seed = seed_arg(seed);
  o.sampler = sampler;
  o.weight_sharing = weight_sharing;
  o.train_u = train_u;
  o.symmetric = symmetric;
  const Eigen::MatrixXd cov = covariance(sigma, d);
  TrainingResult r;
  {
    py::gil_scoped_release release;
    r = train_looped(d, n, cov, loops, o);
  }
  py::dict out;
  out["A"] = to_numpy(r.params.A);
  out["u"] = to_numpy_vector(r.params.u);
  out["layers"] = stack_dict(r.layers);
  out["curve"] = curve_dict(r.curve);
  out["test_loss"] = r.test_loss;
  out["seconds"] = r.seconds;
  py::dict settings;
  settings["optimizer"] = o.optimizer;
  settings["gradient"] = o.gradient;
  settings["learning_rate"] = o.learning_rate;
  settings["beta1"] = o.beta1;
  settings["beta2"] = o.beta2;
  settings["epsilon"] = o.epsilon;
  settings["cosine_decay"] = o.cosine_decay;
  settings["batch"] = o.batch;
  settings["steps"] = o.steps;
  settings["init_scale"] = o.init_scale;
  settings["sampler"] = o.sampler;
  settings["weight_sharing"] = o.weight_sharing;
  settings["train_u"] = o.train_u;
  settings["symmetric"] = o.symmetric;
  out["optimizer"] = settings;
  return out;
}

py::dict gd_reference(const py::handle& d_arg, const py::handle& n_arg, const py::handle& loops_arg, const py::object& sigma,
                      const std::string& preconditioner, const py::handle& tasks_arg, const py::handle& seed_value) {
  const int d = count(d_arg, "d", Quantity::width), n = count(n_arg, "n", Quantity::examples),
            loops = count(loops_arg, "loops", Quantity::loops), tasks = count(tasks_arg, "tasks", Quantity::tasks);
  const std::uint64_t seed = seed_arg(seed_value);
  const Eigen::MatrixXd cov = covariance(sigma, d);
  if (preconditioner != "sigma_inverse" && preconditioner != "identity")
    throw InvalidArgument("preconditioner", "expected 'sigma_inverse' or 'identity', got '" + preconditioner + "'");
  StepSearch s;
  {
    py::gil_scoped_release release;
    RegressionTaskSampler sampler(d, n, cov, seed);
    const Eigen::MatrixXd base =
        preconditioner == "identity" ? Eigen::MatrixXd::Identity(d, d) : sampler.sigma_inverse();
    s = best_step(sampler.sample_moments(tasks), sampler.sigma(), base, loops);
  }
  py::dict out;
  out["scale"] = s.scale;
  out["loss"] = to_numpy_vector(s.loss);
  return out;
}

py::array_t<double> test_losses(const py::handle& A, const py::handle& u, const py::handle& n_arg, const py::handle& loops_arg, const py::object& sigma,
                                const py::handle& tasks_arg, const py::handle& seed_value) {
  const int n = count(n_arg, "n", Quantity::examples), loops = count(loops_arg, "loops", Quantity::loops),
            tasks = count(tasks_arg, "tasks", Quantity::tasks);
  const std::uint64_t seed = seed_arg(seed_value);
  const LayerStack stack = stack_arg(A, u);
  const int d = int(stack.front().A.rows());
  check_stack(stack, d, loops);  // before drawing the tasks
  const Eigen::MatrixXd cov = covariance(sigma, d);
  std::vector<double> losses;
  {
    py::gil_scoped_release release;
    RegressionTaskSampler sampler(d, n, cov, seed);
    losses = normalized_test_losses(sampler.sample_moments(tasks), sampler.sigma(), stack, loops);
  }
  return to_numpy_vector(losses);
}

py::array_t<double> forward(const py::handle& Z, const py::handle& P, const py::handle& Q, const py::handle& loops_arg, const std::string& form) {
  const int loops = count(loops_arg, "loops", Quantity::loops);
  const Eigen::MatrixXd z = to_float64_matrix(Z, "Z");
  return to_numpy(looped_forward(z, to_float64_matrix(P, "P", z.rows(), z.rows()),
                                 to_float64_matrix(Q, "Q", z.rows(), z.rows()), loops, parse_attention_form(form)));
}

}  // namespace

void bind_looped(py::module_& m) {
  m.def("train", &train, py::arg("d"), py::arg("n"), py::arg("loops"), py::arg("sigma") = py::none(),
        py::arg("steps") = 2000, py::arg("seed") = 1, py::arg("batch") = 256, py::arg("optimizer") = "adam",
        py::arg("gradient") = "reduced",
        py::arg("learning_rate") = 0.01, py::arg("cosine_decay") = true, py::arg("init_scale") = 0.1,
        py::arg("eval_every") = 25, py::arg("eval_tasks") = 2000, py::arg("test_tasks") = 20000,
        py::arg("sampler") = "moments", py::arg("weight_sharing") = true, py::arg("train_u") = true,
        py::arg("symmetric") = false,
        "Trains the looped linear transformer (A, u shared over `loops` loops) on fresh tasks\n"
        "x ~ N(0, sigma), w* ~ N(0, sigma^-1) (sigma None: identity). Returns {'A', 'u', 'layers': {'A':\n"
        "(layers, d, d), 'u': (layers, d)}, 'curve': {'step', 'batch_loss', 'eval_loss', 'distance',\n"
        "'u_norm'}, 'test_loss', 'seconds', 'optimizer'}; losses are divided by E[y^2] = d, distance is\n"
        "that of A to the nearest multiple of sigma^-1. weight_sharing=False trains `loops` layers, each\n"
        "with its own (A, u); train_u=False keeps u = 0; symmetric=True keeps A symmetric; sampler\n"
        "'moments' draws each task's X^T X / n directly (O(d^3) whatever n), 'prompts' draws X (needed\n"
        "by gradient 'transformer').");
  m.def("gd_reference", &gd_reference, py::arg("d"), py::arg("n"), py::arg("loops"),
        py::arg("sigma") = py::none(), py::arg("preconditioner") = "sigma_inverse", py::arg("tasks") = 20000,
        py::arg("seed") = 1,
        "Best T-step GD with A = a * sigma^-1 ('sigma_inverse') or a * I ('identity'), a minimised on a\n"
        "fixed Monte Carlo task set. Returns {'scale': a, 'loss': normalised loss after 0..loops steps}.");
  m.def("test_losses", &test_losses, py::arg("A"), py::arg("u"), py::arg("n"), py::arg("loops"),
        py::arg("sigma") = py::none(), py::arg("tasks") = 20000, py::arg("seed") = 1,
        "Normalised test loss of the looped model (A (d, d), u (d,)) after 0..loops loops on fresh tasks\n"
        "from sigma, or of a stack of layers (A (loops, d, d), u (loops, d)).");
  m.def("forward", &forward, py::arg("Z"), py::arg("P"), py::arg("Q"), py::arg("loops"),
        py::arg("form") = "linear",
        "T loops of Z <- Z - (1/n) P Z M Z^T Q Z on the (d+1, n+1) prompt Z; form 'linear' or 'quadratic'.");
  m.def(
      "anisotropic_covariance",
      [](const py::handle& d, const py::handle& condition, const py::handle& seed) {
        return to_numpy(anisotropic_covariance(count(d, "d", Quantity::width), real_arg(condition, "condition"),
                                               seed_arg(seed)));
      },
      py::arg("d"), py::arg("condition"),
        py::arg("seed") = 1, "A d x d covariance with condition number `condition` in a random basis.");
}

}  // namespace lorafgc::python
