// Tests of the C# binding on real MiniLM weights (tests/data). Built with Mono's mcs and run
// with mono by scripts/sdk-test.sh:
//   SaraphisTests.exe FIXTURE.safetensors [--read-go]
// Writes cs-<tensor>.spht into $SARAPHIS_CROSS_DIR for the Go tests; with --read-go, checks the
// go-<tensor>.spht files that Go wrote. The archive tests read $SARAPHIS_TEST_ARCHIVE (a .sph
// archive of the fixture) or write one with the CLI of this checkout (cargo build --bin saraphis
// in the repository the fixture is in, then saraphis compress --lossless-v2); without either
// they print "SKIPPED: archive tests". Prints "N passed, N failed".
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;
using Saraphis;

static class SaraphisTests
{
    static int passed, failed;

    static void Check(bool ok, string what)
    {
        if (ok) passed++; else { failed++; Console.Error.WriteLine("FAILED: " + what); }
    }

    static void Throws<T>(Action a, Func<T, bool> ok, string what) where T : Exception
    {
        try { a(); Check(false, what + " (no exception)"); }
        catch (T e) { Check(ok(e), what + ": " + e.Message); }
    }

    class Tensor { public string Name, DType; public ulong[] Shape; public byte[] Data; }

    static List<Tensor> Load(string path)
    {
        byte[] buf = File.ReadAllBytes(path);
        long n = BitConverter.ToInt64(buf, 0);
        string header = Encoding.UTF8.GetString(buf, 8, (int)n);
        var re = new Regex("\"([^\"]+)\":\\{\"dtype\":\"(\\w+)\",\"shape\":\\[([0-9,]*)\\],\"data_offsets\":\\[(\\d+),(\\d+)\\]\\}");
        var list = new List<Tensor>();
        foreach (Match m in re.Matches(header))
        {
            long s = long.Parse(m.Groups[4].Value), e = long.Parse(m.Groups[5].Value);
            var data = new byte[e - s];
            Array.Copy(buf, 8 + n + s, data, 0, e - s);
            list.Add(new Tensor { Name = m.Groups[1].Value, DType = m.Groups[2].Value, Shape = m.Groups[3].Value.Split(',').Select(ulong.Parse).ToArray(), Data = data });
        }
        return list;
    }

    static byte[] c0(SaraphisSystem s, Tensor t, Params p) => s.Compress(t.Data, DType.F32, t.Shape, p);

    /// <summary>Run a program to its end; its output if it failed, null if it succeeded.</summary>
    static string Run(string file, string args, string dir)
    {
        var psi = new ProcessStartInfo(file, args) { WorkingDirectory = dir, UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        using (var p = Process.Start(psi))
        {
            var err = p.StandardError.ReadToEndAsync();
            string output = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            return p.ExitCode == 0 ? null : file + " " + args + " exited " + p.ExitCode + ": " + output + err.Result;
        }
    }

    static bool OnPath(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Any(d => d.Length > 0 && File.Exists(Path.Combine(d, tool)));

    /// <summary>A .sph archive of the fixture: $SARAPHIS_TEST_ARCHIVE, or one the CLI writes into
    /// dir; null (tests skipped) without cargo.</summary>
    static string TestArchive(string fixture, string dir)
    {
        string env = Environment.GetEnvironmentVariable("SARAPHIS_TEST_ARCHIVE");
        if (!string.IsNullOrEmpty(env)) return env;
        if (!OnPath("cargo")) return null;
        string root = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(fixture)), "..", ".."));
        string failure = Run("cargo", "build --quiet --bin saraphis", root);
        if (failure != null) throw new Exception(failure);
        string target = Environment.GetEnvironmentVariable("CARGO_TARGET_DIR");
        target = string.IsNullOrEmpty(target) ? Path.Combine(root, "target") : Path.Combine(root, target);
        string path = Path.Combine(dir, "m.sph");
        failure = Run(Path.Combine(target, "debug", "saraphis"), "compress \"" + Path.GetFullPath(fixture) + "\" -o \"" + path + "\" --lossless-v2", root);
        if (failure != null) throw new Exception(failure);
        return path;
    }

    /// <summary>The archive holds exactly the fixture's tensors, bit for bit.</summary>
    static void CheckArchive(Archive a, List<Tensor> tensors, string what)
    {
        int n = a.Count;
        Check(n > 1 && n == tensors.Count, what + ": " + n + " tensors, the fixture " + tensors.Count);
        for (int i = 0; i < n; i++)
        {
            string name = a.Name(i);
            Check(a.Find(name) == i, what + ": Find(Name(" + i + ")) == " + i);
            var t = tensors.FirstOrDefault(x => x.Name == name);
            if (t == null) { Check(false, what + ": " + name + " is in the fixture"); continue; }
            var info = a.Info(i);
            Check(info.OriginalBytes == (ulong)t.Data.Length && info.GetShape().SequenceEqual(t.Shape), what + ": " + name + " info");
            Check(a.Decompress(i).SequenceEqual(t.Data), what + ": " + name + " decodes bit for bit");
        }
    }

    static unsafe void ArchiveTests(SaraphisSystem sys, List<Tensor> tensors, string fixture, Params lossless)
    {
        Check(Marshal.SizeOf(typeof(TensorInfo)) == 208 && sizeof(TensorInfo) == 208, "TensorInfo is 208 bytes (saraphis_tensor_info)");
        Check(Marshal.SizeOf(typeof(ArchiveOutput)) == 3 * IntPtr.Size, "ArchiveOutput is saraphis_archive_output's size");
        using (var cfg = new Config())
        {
            cfg.Set(ConfigKey.OptimizationStrategy, 0).Set(ConfigKey.GpuMemoryLimitMb, 64).Set(ConfigKey.CpuWorkers, 2);
            Throws<SaraphisException>(() => cfg.Set(ConfigKey.SwapPolicy, 7), e => e.Code == 1001, "config: bad swap policy refused");
        }

        // HeaderBytes: the header of a container from Compress, then Inspect on just that prefix.
        var big = tensors.OrderByDescending(t => t.Data.Length).First();
        byte[] c = sys.Compress(big.Data, Of(big.DType), big.Shape, lossless);
        var prefix = c.Take(Math.Min(c.Length, Library.HeaderMaxBytes)).ToArray();
        long hb = Library.HeaderBytes(prefix);
        Check(hb > 0 && hb < c.Length && hb <= prefix.Length, "HeaderBytes " + hb + " of a " + c.Length + "-byte container");
        var hinfo = Library.Inspect(c.AsSpan(0, (int)hb));
        Check(hinfo.OriginalBytes == (ulong)big.Data.Length && hinfo.CompressedBytes == (ulong)c.Length, "Inspect of the header alone");
        bool zero = true;
        for (int k = 0; k < 5; k++) zero &= hinfo.Reserved[k] == 0;
        zero &= hinfo.MaxAbsError == 0 && hinfo.QuantBits == 0;
        Check(zero, "reserved words are 0");
        Throws<SaraphisException>(() => Library.Inspect(c.AsSpan(0, (int)hb - 1)), e => e.Code == 2003, "Inspect one byte short of the header");
        Throws<SaraphisException>(() => Library.HeaderBytes(Encoding.ASCII.GetBytes("NOPE, not a container")), e => e.Code == 2001, "HeaderBytes of other bytes");

        string dir = Path.Combine(Path.GetTempPath(), "saraphis-cs-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            string path = TestArchive(fixture, dir);
            if (path == null)
            {
                Console.WriteLine("SKIPPED: archive tests (set SARAPHIS_TEST_ARCHIVE to a .sph archive of the fixture, or put cargo on PATH to build one)");
                return;
            }
            byte[] raw = File.ReadAllBytes(path);

            // Delta: the fine-tune of the fixture (tests/data/minilm-subset-finetuned-f32.safetensors)
            // compressed by the CLI against the fixture, read back once its base is attached.
            string tunedFixture = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(fixture)), "minilm-subset-finetuned-f32.safetensors");
            string cli = Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(Path.GetFullPath(fixture))), "..", "target", "debug", "saraphis");
            string targetDir = Environment.GetEnvironmentVariable("CARGO_TARGET_DIR");
            if (!string.IsNullOrEmpty(targetDir))
                cli = Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(Path.GetFullPath(fixture))), "..", targetDir, "debug", "saraphis");
            if (File.Exists(tunedFixture) && File.Exists(cli))
            {
                string deltaPath = Path.Combine(dir, "tuned.sph");
                string failure = Run(cli, "compress \"" + tunedFixture + "\" -o \"" + deltaPath + "\" --base \"" + Path.GetFullPath(fixture) + "\"", dir);
                if (failure != null) throw new Exception(failure);
                using (var d = Archive.Open(sys, deltaPath))
                {
                    int q = d.Find("encoder.layer.0.attention.self.query.weight");
                    Check(d.Info(q).Codec == (uint)Codec.Delta, "delta archive: codec Delta");
                    Throws<SaraphisException>(() => d.Decompress(q), e => e.Code == 1001, "a delta tensor before its base is attached");
                    int deltas;
                    using (var baseArchive = Archive.Open(sys, path)) deltas = d.SetBase(baseArchive); // d keeps its own reference
                    Check(deltas >= tensors.Count - 1, "SetBase: " + deltas + " delta tensors");
                    CheckArchive(d, Load(tunedFixture), "delta archive with its base");
                }
            }
            else Console.WriteLine("SKIPPED: delta archive test (no fine-tune fixture or CLI)");

            using (var a = Archive.Open(sys, path))
            {
                CheckArchive(a, tensors, "file archive");
                int n = a.Count;
                Throws<SaraphisException>(() => a.Find("no.such.tensor"), e => e.Code == 1003, "Find of an unknown name");
                Throws<SaraphisException>(() => a.Find(a.Name(0) + "\0x"), e => e.Code == 1003, "Find of a name with a NUL");
                Throws<SaraphisException>(() => a.Decompress(n), e => e.Code == 1001, "Decompress out of range");
                Throws<SaraphisException>(() => a.Decompress(-1), e => e.Code == 1001, "Decompress(-1)");
                Throws<SaraphisException>(() => a.Name(n), e => e.Code == 1001, "Name out of range");
                Throws<SaraphisException>(() => a.Info(n), e => e.Code == 1001, "Info out of range");
                var info0 = a.Info(0);
                Throws<SaraphisException>(() => a.Decompress(0, new byte[info0.OriginalBytes - 1]), e => e.Code == 1002, "short destination");
                Throws<SaraphisException>(() => a.DecompressDevice(0, new IntPtr(256), (long)info0.OriginalBytes, IntPtr.Zero), e => e.Code == 4001, "DecompressDevice on a CPU system");
                Throws<SaraphisException>(() => a.DecompressDeviceBatch(new[] { new ArchiveOutput(0, new IntPtr(256), (long)info0.OriginalBytes) }, IntPtr.Zero), e => e.Code == 4001, "DecompressDeviceBatch on a CPU system");
                Throws<SaraphisException>(() => Archive.Open(sys, Path.Combine(dir, "missing.sph")), e => e.Code == 3001, "Open of a missing file");
                Throws<SaraphisException>(() => Archive.FromMemory(sys, Encoding.ASCII.GetBytes("not an archive at all, but long enough to have a header..................")), e => e.Code == 2001, "FromMemory of other bytes");

                // From memory: the same tensors, and the archive owns its copy of the bytes.
                var copy = (byte[])raw.Clone();
                using (var m = Archive.FromMemory(sys, copy))
                {
                    Array.Clear(copy, 0, copy.Length);
                    GC.Collect();
                    CheckArchive(m, tensors, "memory archive");
                    bool same = m.Count == n;
                    for (int i = 0; i < n && same; i++) same = m.Name(i) == a.Name(i) && m.Info(i).CompressedBytes == a.Info(i).CompressedBytes;
                    Check(same, "memory archive lists the file's tensors");
                }

                // Containers follow the 64-byte file header in archive order, each at a multiple
                // of 64. Flip the last byte of the largest: its decode fails, a neighbour's not.
                var offsets = new long[n];
                var sizes = new long[n];
                int largest = 0;
                long off = 64;
                bool magic = true;
                for (int i = 0; i < n; i++)
                {
                    offsets[i] = off;
                    sizes[i] = (long)a.Info(i).CompressedBytes;
                    magic &= Encoding.ASCII.GetString(raw, (int)off, 4) == "SPHT";
                    if (sizes[i] > sizes[largest]) largest = i;
                    off = (off + sizes[i] + 63) / 64 * 64;
                }
                Check(magic, "every computed container offset holds SPHT");
                var bad = (byte[])raw.Clone();
                bad[offsets[largest] + sizes[largest] - 1] ^= 0x01;
                using (var m = Archive.FromMemory(sys, bad))
                {
                    string name = m.Name(largest);
                    Throws<SaraphisException>(() => m.Decompress(largest), e => e.Code == 2004 && e.Message.Contains(name), "altered container " + name + " fails its checksum");
                    int nb = largest + 1 < n ? largest + 1 : largest - 1;
                    string nn = m.Name(nb);
                    Check(m.Decompress(nb).SequenceEqual(tensors.First(t => t.Name == nn).Data), "neighbour " + nn + " still decodes");
                }
            }

            // The native archive holds its system: disposing the system first is allowed.
            Archive b;
            using (var cfg = new Config().Threads(1).Device("cpu"))
            using (var s2 = new SaraphisSystem(cfg))
            {
                b = Archive.Open(s2, path);
            }
            CheckArchive(b, tensors, "archive outliving its system");
            b.Dispose();
            b.Dispose();
            Throws<ObjectDisposedException>(() => { var x = b.Count; }, e => true, "disposed archive throws");
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    // The math library (issue 14): Tropical against naive references over float, double and int
    // (odd shapes, infinities, NaN, argbest), the closure against Floyd–Warshall, errors, and
    // PadicRing (Z/251^7 against references by doubling and adding, digits, the Hensel root of
    // x^2 - 2 in Z/7^20).
    static double Zero(Semiring s) => s == Semiring.MaxPlus ? double.NegativeInfinity : double.PositiveInfinity;
    static int ZeroI(Semiring s) => s == Semiring.MaxPlus ? int.MinValue : int.MaxValue;
    static bool Better(Semiring s, double v, double acc) => s == Semiring.MaxPlus ? v > acc : v < acc;
    static double Otimes(Semiring s, double a, double b) { double r = a + b; return double.IsNaN(r) ? Zero(s) : r; }
    static float OtimesF(Semiring s, float a, float b) { float r = a + b; return float.IsNaN(r) ? (float)Zero(s) : r; }
    static int OtimesI(Semiring s, int a, int b) => a == ZeroI(s) || b == ZeroI(s) ? ZeroI(s) : a + b;
    static double Oplus(Semiring s, double a, double b)
    {
        if (double.IsNaN(a)) a = Zero(s);
        if (double.IsNaN(b)) b = Zero(s);
        return Better(s, b, a) ? b : a;
    }

    /// <summary>a * b mod m by doubling and adding (m &lt; 2^63: no sum overflows).</summary>
    static ulong MulMod(ulong a, ulong b, ulong m)
    {
        ulong r = 0;
        for (a %= m; b > 0; b >>= 1, a = (a + a) % m)
            if ((b & 1) != 0) r = (r + a) % m;
        return r;
    }

    static void MathTests(SaraphisSystem sys)
    {
        var rng = new Random(14);
        foreach (var s in new[] { Semiring.MaxPlus, Semiring.MinPlus })
        {
            double z = Zero(s);
            // Small integers (ties) with the zero, the other infinity and NaN; int: the zero and +-2^28.
            Func<double> gd = () => { int r = rng.Next(100); return r < 4 ? z : r < 8 ? -z : r < 12 ? double.NaN : rng.Next(21) - 10; };
            Func<int> gi = () => { int r = rng.Next(100); return r < 5 ? ZeroI(s) : r < 7 ? 1 << 28 : r < 9 ? -(1 << 28) : rng.Next(21) - 10; };
            foreach (var sh in new[] { new[] { 1, 1, 1 }, new[] { 1, 40, 33 }, new[] { 33, 40, 1 }, new[] { 37, 53, 29 }, new[] { 3, 0, 4 }, new[] { 0, 2, 0 } })
            {
                int m = sh[0], k = sh[1], n = sh[2];
                string what = s + " " + m + "x" + k + "x" + n;
                var ad = new double[m * k]; var bd = new double[k * n];
                for (int i = 0; i < ad.Length; i++) ad[i] = gd();
                for (int i = 0; i < bd.Length; i++) bd[i] = gd();
                var ai = new int[m * k]; var bi = new int[k * n];
                for (int i = 0; i < ai.Length; i++) ai[i] = gi();
                for (int i = 0; i < bi.Length; i++) bi[i] = gi();
                float[] af = ad.Select(v => (float)v).ToArray(), bf = bd.Select(v => (float)v).ToArray();
                var wd = new double[m * n]; var wf = new float[m * n]; var wi = new int[m * n];
                var gdArg = new uint[m * n]; var gfArg = new uint[m * n]; var giArg = new uint[m * n];
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < n; j++)
                    {
                        double accd = z; float accf = (float)z; int acci = ZeroI(s);
                        uint bestd = uint.MaxValue, bestf = uint.MaxValue, besti = uint.MaxValue;
                        for (int l = 0; l < k; l++)
                        {
                            double td = Otimes(s, ad[i * k + l], bd[l * n + j]);
                            if (Better(s, td, accd)) { accd = td; bestd = (uint)l; }
                            float tf = OtimesF(s, af[i * k + l], bf[l * n + j]);
                            if (Better(s, tf, accf)) { accf = tf; bestf = (uint)l; }
                            int ti = OtimesI(s, ai[i * k + l], bi[l * n + j]);
                            if (Better(s, ti, acci)) { acci = ti; besti = (uint)l; }
                        }
                        wd[i * n + j] = accd; wf[i * n + j] = accf; wi[i * n + j] = acci;
                        gdArg[i * n + j] = accd == z ? uint.MaxValue : bestd;
                        gfArg[i * n + j] = accf == (float)z ? uint.MaxValue : bestf;
                        giArg[i * n + j] = acci == ZeroI(s) ? uint.MaxValue : besti;
                    }
                var cd = new double[m * n]; var cf = new float[m * n]; var ci = new int[m * n];
                var argd = new uint[m * n]; var argf = new uint[m * n]; var argi = new uint[m * n];
                Tropical.Matmul(sys, s, ad, bd, cd, m, k, n, argd);
                Tropical.Matmul(sys, s, af, bf, cf, m, k, n, argf);
                Tropical.Matmul(sys, s, ai, bi, ci, m, k, n, argi);
                Check(cd.SequenceEqual(wd) && argd.SequenceEqual(gdArg), "double matmul " + what);
                Check(cf.SequenceEqual(wf) && argf.SequenceEqual(gfArg), "float matmul " + what);
                Check(ci.SequenceEqual(wi) && argi.SequenceEqual(giArg), "int matmul " + what);
                var cd2 = new double[m * n];
                Tropical.Matmul(sys, s, ad, bd, cd2, m, k, n);
                Check(cd2.SequenceEqual(wd), "double matmul without argbest " + what);
            }
            // Elementwise, conv1d, conv2d on doubles.
            var x = new double[8 * 10]; var ker = new double[3 * 4];
            for (int i = 0; i < x.Length; i++) x[i] = gd();
            for (int i = 0; i < ker.Length; i++) ker[i] = gd();
            var add = new double[ker.Length]; var mul = new double[ker.Length];
            Tropical.Elementwise(sys, s, TropicalOp.Add, x.Take(ker.Length).ToArray(), ker, add);
            Tropical.Elementwise(sys, s, TropicalOp.Mul, x.Take(ker.Length).ToArray(), ker, mul);
            Check(Enumerable.Range(0, ker.Length).All(i => add[i] == Oplus(s, x[i], ker[i]) && mul[i] == Otimes(s, x[i], ker[i])), "elementwise " + s);
            var o2 = new double[6 * 7]; var o1 = new double[7];
            Tropical.Conv2D(sys, s, x, 8, 10, ker, 3, 4, o2);
            Tropical.Conv1D(sys, s, x.Take(10).ToArray(), ker.Take(4).ToArray(), o1);
            bool ok2 = true, ok1 = true;
            for (int i = 0; i < 6; i++)
                for (int j = 0; j < 7; j++)
                {
                    double acc = z;
                    for (int u = 0; u < 3; u++)
                        for (int v = 0; v < 4; v++) acc = Oplus(s, acc, Otimes(s, x[(i + u) * 10 + j + v], ker[u * 4 + v]));
                    ok2 &= o2[i * 7 + j] == acc;
                }
            for (int i = 0; i < 7; i++)
            {
                double acc = z;
                for (int j = 0; j < 4; j++) acc = Oplus(s, acc, Otimes(s, x[i + j], ker[j]));
                ok1 &= o1[i] == acc;
            }
            Check(ok2, "conv2d " + s);
            Check(ok1, "conv1d " + s);
            // Polynomials: max / min of c0, c1 + x, c2 + 2x.
            var coeffs = new[] { 1, -2, 3 }; var xs = new[] { -4, 0, 5 }; var po = new int[3];
            Tropical.PolyEval(sys, s, coeffs, 3, xs, po);
            Check(Enumerable.Range(0, 3).All(p => po[p] == (s == Semiring.MaxPlus ? Math.Max(1, Math.Max(-2 + xs[p], 3 + 2 * xs[p])) : Math.Min(1, Math.Min(-2 + xs[p], 3 + 2 * xs[p])))), "poly_eval " + s);
            // Closure against Floyd–Warshall (min-plus: weights 1..9; max-plus: a DAG with -9..9).
            const int N = 21;
            var g = new float[N * N];
            for (int i = 0; i < N; i++)
                for (int j = 0; j < N; j++)
                    g[i * N + j] = rng.Next(100) < 20 && (s == Semiring.MinPlus ? i != j : i < j) ? (s == Semiring.MinPlus ? 1 + rng.Next(9) : rng.Next(19) - 9) : (float)z;
            var d = g.Select(v => (double)v).ToArray();
            for (int i = 0; i < N; i++) d[i * N + i] = Oplus(s, d[i * N + i], 0);
            for (int l = 0; l < N; l++)
                for (int i = 0; i < N; i++)
                    for (int j = 0; j < N; j++) d[i * N + j] = Oplus(s, d[i * N + j], Otimes(s, d[i * N + l], d[l * N + j]));
            var cl = new float[N * N];
            Tropical.Closure(sys, s, g, N, cl);
            Check(cl.Select(v => (double)v).SequenceEqual(d), "closure equals Floyd-Warshall " + s);
            var cyc = new[] { z, 1, s == Semiring.MaxPlus ? 1 : -2, z };
            Throws<SaraphisException>(() => Tropical.Closure(sys, s, cyc, 2, new double[4]), e => e.Code == 1001, "diverging closure " + s);
        }
        // Errors.
        int[] ia = { 1, 2, 1 << 29, 4 }, ib = { 0, 0, 0, 0 }, ic = { 9, 9, 9, 9 };
        Throws<SaraphisException>(() => Tropical.Matmul(sys, Semiring.MaxPlus, ia, ib, ic, 2, 2, 2), e => e.Code == 1001, "int entry 2^29");
        Check(ic[0] == 9, "c untouched on failure");
        ia[2] = 3;
        Throws<SaraphisException>(() => Tropical.Matmul(sys, Semiring.MaxPlus, ia, ib, ia, 2, 2, 2), e => e.Code == 1002, "c is a");
        Throws<SaraphisException>(() => Tropical.Matmul(sys, Semiring.MaxPlus, ia, ib, new int[3], 2, 2, 2), e => e.Code == 1002, "short c");
        Throws<SaraphisException>(() => Tropical.Matmul(sys, Semiring.MaxPlus, ia, ib, ic, 2, 2, 2, new uint[3]), e => e.Code == 1002, "short argbest");
        Throws<SaraphisException>(() => Tropical.Matmul(sys, Semiring.MaxPlus, new int[3], ib, ic, 2, 2, 2), e => e.Code == 1001, "short a");
        Throws<ArgumentOutOfRangeException>(() => Tropical.Matmul(sys, Semiring.MaxPlus, ia, ib, ic, -1, 2, 2), e => true, "negative m");
        Throws<SaraphisException>(() => Tropical.Matmul(sys, (Semiring)5, ia, ib, ic, 2, 2, 2), e => e.Code == 1001, "semiring 5");
        Throws<SaraphisException>(() => Tropical.Elementwise(sys, Semiring.MinPlus, (TropicalOp)2, ia, ib, ic), e => e.Code == 1001, "op 2");
        Throws<SaraphisException>(() => Tropical.Conv1D(sys, Semiring.MaxPlus, ia, new int[5], ic), e => e.Code == 1001, "conv1d kernel longer than x");
        Throws<SaraphisException>(() => Tropical.PolyEval(sys, Semiring.MaxPlus, ia, 0, ib, ic), e => e.Code == 1001, "poly_eval without terms");
        Tropical.Matmul(sys, Semiring.MaxPlus, new float[0], new float[0], new float[0], 0, 0, 3, new uint[0]);
        Tropical.Elementwise(sys, Semiring.MinPlus, TropicalOp.Add, new int[0], new int[0], new int[0]);
        Tropical.Closure(sys, Semiring.MinPlus, new double[0], 0, new double[0]);
        Check(true, "empty calls");
        Throws<SaraphisException>(() => Tropical.MatmulDevice(sys, Semiring.MaxPlus, DType.F32, new IntPtr(16), new IntPtr(32), new IntPtr(64), 2, 2, 2, IntPtr.Zero, IntPtr.Zero, IntPtr.Zero), e => e.Code == 4001, "MatmulDevice on a CPU system");

        // p-adic.
        using (var r = new PadicRing(251, 7))
        {
            ulong M = 1;
            for (int i = 0; i < 7; i++) M *= 251;
            Check(r.Modulus == M && r.Prime == 251 && r.Precision == 7, "modulus 251^7");
            var a = new ulong[2000]; var b = new ulong[2000];
            var bytes = new byte[8];
            for (int i = 0; i < a.Length; i++)
            {
                rng.NextBytes(bytes); a[i] = BitConverter.ToUInt64(bytes, 0) % M;
                rng.NextBytes(bytes); b[i] = BitConverter.ToUInt64(bytes, 0) % M;
                if (i % 10 == 0) { a[i] = (ulong)(1 + rng.Next(250)); for (int v = 0; v < i % 7; v++) a[i] *= 251; }
            }
            a[1] = 0; a[2] = M - 1; b[3] = M - 1; b[4] = 0;
            var add = r.Batch(sys, PadicOp.Add, a, b);
            var sub = r.Batch(sys, PadicOp.Sub, a, b);
            var mul = r.Batch(sys, PadicOp.Mul, a, b);
            var neg = r.Batch(sys, PadicOp.Neg, a);
            var val = r.Batch(sys, PadicOp.Valuation, a);
            bool okA = true, okS = true, okM = true, okN = true, okV = true;
            for (int i = 0; i < a.Length; i++)
            {
                okA &= add[i] == (a[i] + b[i]) % M;
                okS &= sub[i] == (a[i] + M - b[i]) % M;
                okM &= mul[i] == MulMod(a[i], b[i], M);
                okN &= neg[i] == (M - a[i]) % M;
                ulong t = a[i], v = 0;
                if (t == 0) v = 7;
                while (t != 0 && t % 251 == 0) { t /= 251; v++; }
                okV &= val[i] == v;
            }
            Check(okA, "padic add"); Check(okS, "padic sub"); Check(okM, "padic mul"); Check(okN, "padic neg"); Check(okV, "padic valuation");
            for (int i = 0; i < b.Length; i++) if (b[i] % 251 == 0) b[i]++;
            var inv = r.Batch(sys, PadicOp.Inverse, b);
            Check(Enumerable.Range(0, b.Length).All(i => MulMod(inv[i], b[i], M) == 1), "padic inverse");
            Throws<SaraphisException>(() => r.Batch(sys, PadicOp.Inverse, new ulong[] { 251 }), e => e.Code == 1001, "inverse of a non-unit");
            Throws<SaraphisException>(() => r.Batch(sys, PadicOp.Add, new ulong[] { M }, new ulong[] { 1 }), e => e.Code == 1001, "an input >= p^N");
            Throws<SaraphisException>(() => r.Batch(sys, PadicOp.Neg, a, b), e => e.Code == 1001, "b for a unary op");
            Throws<SaraphisException>(() => r.Batch(sys, PadicOp.Mul, a), e => e.Code == 1000, "no b for a binary op");
            Check(r.Batch(sys, PadicOp.Mul, new ulong[0], new ulong[0]).Length == 0, "empty batch");
            Throws<SaraphisException>(() => r.BatchDevice(sys, PadicOp.Mul, new IntPtr(16), new IntPtr(32), new IntPtr(64), 4, IntPtr.Zero, IntPtr.Zero), e => e.Code == 4001, "BatchDevice on a CPU system");
            Throws<SaraphisException>(() => r.BatchDevice(sys, PadicOp.Inverse, new IntPtr(16), IntPtr.Zero, new IntPtr(64), 4, IntPtr.Zero, IntPtr.Zero), e => e.Code == 2006, "BatchDevice inverse is host only");
            var dg = r.ToDigits(a);
            bool okD = dg.Length == 7 * a.Length;
            for (int i = 0; okD && i < a.Length; i++)
            {
                ulong t = a[i];
                for (int j = 0; j < 7; j++, t /= 251) okD &= dg[i * 7 + j] == t % 251;
            }
            Check(okD, "to_digits");
            Check(r.FromDigits(dg).SequenceEqual(a), "digits round trip");
        }
        ulong root;
        using (var r7 = new PadicRing(7, 20))
        {
            ulong M7 = r7.Modulus;
            root = r7.HenselRoot(new ulong[] { M7 - 2, 0, 1 }, 3);
            Check(root % 7 == 3 && MulMod(root, root, M7) == 2, "hensel root of x^2 - 2 mod 7^20 (substitution)");
            Throws<SaraphisException>(() => r7.HenselRoot(new ulong[] { M7 - 2, 0, 1 }, 1), e => e.Code == 1001, "1 is not a root mod 7");
            r7.Dispose();
            Throws<ObjectDisposedException>(() => r7.HenselRoot(new ulong[] { M7 - 2, 0, 1 }, 3), e => true, "disposed ring throws");
        }
        Throws<SaraphisException>(() => new PadicRing(251, 8), e => e.Code == 1001, "251^8 > 2^62");
    }

    static DType Of(string d) => d == "F32" ? DType.F32 : d == "BF16" ? DType.BF16 : DType.I64;

    static int Main(string[] args)
    {
        var tensors = Load(args[0]);
        Check(tensors.Count == 9, "fixture has 9 tensors");
        string cross = Environment.GetEnvironmentVariable("SARAPHIS_CROSS_DIR");
        using (var cfg = new Config().Threads(2).Device("cpu"))
        using (var sys = new SaraphisSystem(cfg))
        using (var lossless = Params.Lossless())
        using (var padic = Params.PadicAbs(1e-3).Prime(251))
        {
            if (args.Length > 1 && args[1] == "--read-go")
            {
                int read = 0;
                foreach (var t in tensors.Where(t => t.DType == "F32"))
                {
                    byte[] c = File.ReadAllBytes(Path.Combine(cross, "go-" + t.Name + ".spht"));
                    var outb = new byte[t.Data.Length];
                    sys.Decompress(c, DType.F32, outb);
                    Check(outb.SequenceEqual(t.Data), t.Name + " written by Go is bit-exact");
                    read++;
                }
                Check(read > 0, "read Go containers");
                Console.WriteLine(passed + " passed, " + failed + " failed");
                return failed == 0 ? 0 : 1;
            }
            Check(Library.Version.Length > 0 && Library.VersionNumber > 0, "version");
            Check(sys.Device.StartsWith("cpu"), "device");
            foreach (var t in tensors)
            {
                byte[] c = sys.Compress(t.Data, Of(t.DType), t.Shape, lossless);
                var outb = new byte[t.Data.Length];
                sys.Decompress(c, Of(t.DType), outb);
                Check(outb.SequenceEqual(t.Data), t.Name + " lossless bit-exact");
                var info = Library.Inspect(c);
                Check(info.OriginalBytes == (ulong)t.Data.Length && info.GetShape().SequenceEqual(t.Shape), t.Name + " inspect");
                if (t.DType == "F32" && cross != null)
                    File.WriteAllBytes(Path.Combine(cross, "cs-" + t.Name + ".spht"), c);
            }
            var big = tensors.Where(t => t.DType == "F32").OrderByDescending(t => t.Data.Length).First();
            float[] w = MemoryMarshal.Cast<byte, float>(big.Data).ToArray();
            byte[] lossy = sys.Compress(w, big.Shape, padic);
            var back = new float[w.Length];
            sys.Decompress(lossy, back);
            double max = 0;
            for (int i = 0; i < w.Length; i++) max = Math.Max(max, Math.Abs((double)w[i] - back[i]));
            Check(max <= 1e-3 && max > 0, "p-adic bound holds: " + max);
            Check(Library.Inspect(lossy).BoundMode == 1, "inspect bound mode");
            double coarse = sys.DecompressProgressive(lossy, DType.F32, 1, MemoryMarshal.AsBytes(back.AsSpan()));
            double cmax = 0;
            for (int i = 0; i < w.Length; i++) cmax = Math.Max(cmax, Math.Abs((double)w[i] - back[i]));
            Check(cmax <= coarse, "progressive within its bound");

            using (var q4 = Params.Quant(4).Block(64).ZeroPoint(true).ScaleDType(DType.F32))
            {
                byte[] qc = sys.Compress(w, big.Shape, q4);
                var qi = Library.Inspect(qc);
                Check(qi.Codec == (uint)Codec.Quant && qi.QuantBits == 4 && qi.QuantGroupArg == 64 && qi.QuantZeroPoint == 1 &&
                      qi.QuantScaleDType == (uint)DType.F32, "inspect quant settings");
                var qb = new float[w.Length];
                sys.Decompress(qc, qb);
                double qmax = 0;
                for (int i = 0; i < w.Length; i++) qmax = Math.Max(qmax, Math.Abs((double)w[i] - qb[i]));
                Check(qmax == qi.MaxAbsError && qmax > 0, "quant error equals the recorded one: " + qmax);
                Check((double)big.Data.Length / qc.Length > 6.0, "4-bit quant ratio (4 bits + an F32 scale and minimum per 64 = 5 bits per weight)");
            }
            Throws<SaraphisException>(() => Params.Quant(9), e => e.Code == 1001, "quant bits 9");

            // Sparse: the same weights with every other value zeroed come back bit for bit.
            float[] pruned = w.Select((v, i) => i % 2 == 0 ? 0f : v).ToArray();
            using (var sp = new Params(Codec.Sparse))
            {
                byte[] sc = sys.Compress(pruned, big.Shape, sp);
                var si = Library.Inspect(sc);
                Check(si.Codec == (uint)Codec.Sparse && si.SparseNonzeros == (ulong)pruned.Count(v => v != 0f) &&
                      si.SparseValuesCodec == (uint)Codec.LosslessV2, "inspect sparse parts");
                var sb = new float[pruned.Length];
                sys.Decompress(sc, sb);
                Func<float, uint> bits = v => BitConverter.ToUInt32(BitConverter.GetBytes(v), 0);
                Check(sb.Select(bits).SequenceEqual(pruned.Select(bits)),
                      "sparse round trip bit for bit");
            }

            // Auto within abs 1e-3: no larger than p-adic alone, bound kept; a target ratio of 2
            // takes the fastest decoder reaching it (quant).
            using (var ap = new Params(Codec.Auto).AbsBound(1e-3))
            using (var pp = Params.PadicAbs(1e-3))
            {
                byte[] ac = sys.Compress(w, big.Shape, ap);
                Check(ac.Length <= sys.Compress(w, big.Shape, pp).Length, "auto no larger than p-adic");
                var ab = new float[w.Length];
                sys.Decompress(ac, ab);
                Check(Enumerable.Range(0, w.Length).All(i => Math.Abs((double)w[i] - ab[i]) <= 1e-3), "auto keeps the bound");
                Check(Library.Inspect(sys.Compress(w, big.Shape, ap.TargetRatio(2))).Codec == (uint)Codec.Quant,
                      "auto target ratio 2: quant");
                Throws<SaraphisException>(() => ap.Priority(2), e => e.Code == 1001, "auto priority 2");
            }

            ushort[] bf = w.Select(v => (ushort)(BitConverter.ToUInt32(BitConverter.GetBytes(v), 0) >> 16)).ToArray();
            byte[] cb = sys.Compress(bf, DType.BF16, big.Shape, lossless);
            var bb = new ushort[bf.Length];
            sys.Decompress(cb, DType.BF16, bb);
            Check(bb.SequenceEqual(bf), "BF16 ushort[] round trip");

            using (var wide = Params.Lossless().Lanes(128))
            {
                var o128 = new byte[big.Data.Length];
                sys.Decompress(sys.Compress(big.Data, DType.F32, big.Shape, wide), DType.F32, o128);
                Check(o128.SequenceEqual(big.Data), "128-lane container round trip");
            }
            Throws<SaraphisException>(() => Params.Lossless().Lanes(129), e => e.Code == 1001, "lanes over 128");
            long cap = Library.CompressBound(DType.F32, big.Shape, lossless);
            var into = new byte[cap];
            int len = sys.CompressInto(big.Data, DType.F32, big.Shape, lossless, into);
            var back2 = new byte[big.Data.Length];
            sys.Decompress(into.AsSpan(0, len), DType.F32, back2);
            Check(len > 0 && len <= cap && back2.SequenceEqual(big.Data), "CompressInto round trip");
            Throws<SaraphisException>(() => sys.CompressInto(big.Data, DType.F32, big.Shape, lossless, new byte[8]), e => e.Code == 1002, "small CompressInto destination");
            bool kernels = Library.BuildHasCuda; // true or false depending on the build; must not throw
            Check(Library.ResultText(2004) == "checksum mismatch", "result text (build has CUDA kernels: " + kernels + ")");
            Environment.SetEnvironmentVariable("SARAPHIS_THREADS", "1");
            using (var env = Config.FromEnv().ChunkElems(4096).VerifyChecksums(true))
            using (var s1 = new SaraphisSystem(env))
            {
                var o = new byte[big.Data.Length];
                s1.Decompress(c0(sys, big, lossless), DType.F32, o);
                Check(o.SequenceEqual(big.Data), "config from env");
            }
            using (var lp = new Params(Codec.Lossless))
            {
                var sz = Library.CompressDeviceSizes(DType.F32, big.Shape, lp);
                Check(sz.MaxCompressedBytes > 0 && sz.MaxCompressedBytes <= Library.CompressBound(DType.F32, big.Shape, lp) && sz.TempBytes > 0 && sz.TempBytes * 50 <= big.Data.Length, "device compression sizes");
                Throws<SaraphisException>(() => sys.CompressOnGpu(big.Data, DType.F32, big.Shape, lp), e => e.Code == 4001, "GPU compression on a CPU system");
                Throws<SaraphisException>(() => sys.CompressDevice(new IntPtr(16), 4, DType.F32, new ulong[] { 1 }, lp, new IntPtr(32), 64, IntPtr.Zero, 0, new IntPtr(64), IntPtr.Zero), e => e.Code == 4001, "device compression on a CPU system");
            }
            Throws<SaraphisException>(() => sys.DecompressDevice(new IntPtr(16), 4, DType.F32, new IntPtr(32), 4, IntPtr.Zero, 0, IntPtr.Zero), e => e.Code == 4001, "device decode on a CPU system");
            Throws<SaraphisException>(() => sys.DeviceSynchronize(), e => e.Code == 4001, "device synchronize on a CPU system");
            Throws<SaraphisException>(() => sys.Decompress(lossy, new float[10]), e => e.Code == 1002, "short destination");
            byte[] bad = (byte[])lossy.Clone();
            bad[bad.Length - 3] ^= 0x10;
            Throws<SaraphisException>(() => sys.Decompress(bad, back), e => e.Code == 2004 && e.Message.Contains("chunk"), "corrupted chunk");
            Throws<SaraphisException>(() => sys.Decompress(lossy.Take(lossy.Length / 2).ToArray(), back), e => e.Code == 2003, "truncated");
            Throws<SaraphisException>(() => new Params(Codec.Padic).Prime(250), e => e.Code == 1001, "non-prime");
            Throws<SaraphisException>(() => Config.FromJson("{\"device\":\"tpu\"}"), e => e.Code == 1001, "bad device");
            ArchiveTests(sys, tensors, args[0], lossless);
            MathTests(sys);
        }
        var disposed = new SaraphisSystem();
        disposed.Dispose();
        disposed.Dispose();
        Throws<ObjectDisposedException>(() => disposed.Decompress(new byte[4], DType.F32, new byte[4]), e => true, "disposed system throws");
        Console.WriteLine(passed + " passed, " + failed + " failed");
        return failed == 0 ? 0 : 1;
    }
}
