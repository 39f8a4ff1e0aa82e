// Saraphis.cs: C# binding of the Saraphis C API (libsaraphis, include/saraphis.h).
//
// One SafeHandle subclass per C handle (freed exactly once, also by the finalizer), all
// imports in the internal Native class, failures as SaraphisException carrying the C result
// code, ObjectDisposedException after Dispose. A SaraphisSystem and an Archive (an opened .sph
// file: a whole model) may be used from many threads at once; Config and Params must not be
// modified concurrently. The math library: the Tropical static class and PadicRing. Compile with `unsafe` enabled
// (mcs -unsafe, or AllowUnsafeBlocks in Saraphis.csproj). The native library is found as
// "saraphis" (libsaraphis.so on Linux: set LD_LIBRARY_PATH to the install prefix's lib/).
using System;
using System.Runtime.InteropServices;

namespace Saraphis
{
    /// <summary>Element types (saraphis_dtype).</summary>
    public enum DType : uint { F32 = 0, F16 = 1, BF16 = 2, F64 = 3, I8 = 4, I16 = 5, I32 = 6, I64 = 7, U8 = 8, U16 = 9, U32 = 10, U64 = 11, Bool = 12 }

    /// <summary>Codecs (saraphis_codec).</summary>
    /// <remarks>LosslessV2: bit-exact, stream layout v2 (F32/F16/BF16), decoded by the batched GPU call. Delta: coded against a base model (the CLI's --base, FORMAT.md §10), reported by inspect; archives decode such tensors once their base is attached (Archive.SetBase).</remarks>
    public enum Codec : uint { Raw = 0, Lossless = 1, Padic = 2, Bytes = 3, LosslessV2 = 4, Quant = 5, Sparse = 6, Auto = 7, Delta = 8 }

    /// <summary>A tropical semiring (saraphis_semiring): which of max / min is the addition ⊕ (the
    /// multiplication ⊗ is + in both). Zero (the ⊕ identity): -Infinity / +Infinity for floats,
    /// int.MinValue / int.MaxValue for int; one: 0. Floats: NaN counts as the zero; int: finite
    /// entries must lie in [-2^28, 2^28] (others throw code 1001).</summary>
    public enum Semiring : uint { MaxPlus = 0, MinPlus = 1 }

    /// <summary>The operation of Tropical.Elementwise (saraphis_tropical_op): Add is ⊕, Mul is ⊗.</summary>
    public enum TropicalOp : uint { Add = 0, Mul = 1 }

    /// <summary>The operation of PadicRing.Batch (saraphis_padic_op). Add, Sub and Mul read a and b;
    /// Neg, Inverse (units only, host only) and Valuation (N for 0) read a only (b must be null).</summary>
    public enum PadicOp : uint { Add = 0, Sub = 1, Mul = 2, Neg = 3, Inverse = 4, Valuation = 5 }

    /// <summary>A failed call: Code is the C saraphis_result (1001 invalid argument, 1002
    /// destination, 1003 not found, 2001 bad magic, 2003 truncated, 2004 checksum, 2005 corrupt,
    /// 3001 I/O, 4001 device, ...).</summary>
    public sealed class SaraphisException : Exception
    {
        public int Code { get; }
        public SaraphisException(int code, string message) : base(message) { Code = code; }
    }

    /// <summary>Header information of a container (saraphis_tensor_info, 208 bytes), from
    /// Library.Inspect or Archive.Info. Sizes are in bytes; DType and Codec hold DType and Codec
    /// values; Shape has NDim valid entries (GetShape copies them).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct TensorInfo
    {
        public uint DType;
        public uint Codec;
        public uint NDim;
        public fixed ulong Shape[8];
        public ulong NumEl;
        public ulong OriginalBytes;
        public ulong CompressedBytes;
        public uint ChunkElems;
        public ulong Chunks;
        public uint BoundMode;
        public double ErrorBound;
        public uint Prime;
        public uint Precision;
        /// <summary>Quant: largest |x - x'| measured at compression (0 for other codecs).</summary>
        public double MaxAbsError;
        /// <summary>Quant: bits per element (0: chosen per block, error-bounded).</summary>
        public uint QuantBits;
        /// <summary>Quant: 0 blocks, 1 channels, 2 global.</summary>
        public uint QuantGrouping;
        /// <summary>Quant: block length or channel axis.</summary>
        public uint QuantGroupArg;
        /// <summary>Quant: DType value of the scales.</summary>
        public uint QuantScaleDType;
        /// <summary>Quant: 1 when a minimum is stored per group.</summary>
        public uint QuantZeroPoint;
        /// <summary>Sparse: codec of the stored nonzero values (else 0).</summary>
        public uint SparseValuesCodec;
        /// <summary>Sparse: nonzero elements stored (else 0).</summary>
        public ulong SparseNonzeros;
        /// <summary>Sparse: codec of the mask, Bytes (rANS-coded) or Raw (else 0).</summary>
        public uint SparseMaskCodec;
        /// <summary>Written as 0; later library versions may give these words meanings.</summary>
        public fixed uint Reserved[5];

        public ulong[] GetShape()
        {
            var s = new ulong[NDim];
            fixed (ulong* p = Shape)
            {
                for (int i = 0; i < NDim; i++) s[i] = p[i];
            }
            return s;
        }
    }

    /// <summary>One output of Archive.DecompressDeviceBatch (saraphis_archive_output): tensor
    /// Index of the archive and the device buffer DstDev (DstBytes long, exactly the tensor's
    /// OriginalBytes, aligned to its element size) it decodes into.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct ArchiveOutput
    {
        public UIntPtr Index;
        public IntPtr DstDev;
        public UIntPtr DstBytes;

        public ArchiveOutput(int index, IntPtr dstDev, long dstBytes)
        {
            if (index < 0) throw new ArgumentOutOfRangeException(nameof(index));
            if (dstBytes < 0) throw new ArgumentOutOfRangeException(nameof(dstBytes));
            Index = (UIntPtr)(uint)index;
            DstDev = dstDev;
            DstBytes = (UIntPtr)(ulong)dstBytes;
        }
    }

    internal static unsafe class Native
    {
        const string Lib = "saraphis";
        [DllImport(Lib)] internal static extern IntPtr saraphis_result_text(uint result);
        [DllImport(Lib)] internal static extern IntPtr saraphis_last_error_message();
        [DllImport(Lib)] internal static extern IntPtr saraphis_version();
        [DllImport(Lib)] internal static extern uint saraphis_version_number();
        [DllImport(Lib)] internal static extern uint saraphis_build_has_cuda();
        [DllImport(Lib)] internal static extern int saraphis_config_new(out IntPtr config);
        [DllImport(Lib)] internal static extern int saraphis_config_from_env(out IntPtr config);
        [DllImport(Lib)] internal static extern int saraphis_config_from_json([MarshalAs(UnmanagedType.LPUTF8Str)] string json, out IntPtr config);
        [DllImport(Lib)] internal static extern int saraphis_config_set(ConfigHandle config, uint key, long value);
        [DllImport(Lib)] internal static extern int saraphis_config_set_device(ConfigHandle config, [MarshalAs(UnmanagedType.LPUTF8Str)] string device);
        [DllImport(Lib)] internal static extern void saraphis_config_free(IntPtr config);
        [DllImport(Lib)] internal static extern int saraphis_system_new(ConfigHandle config, out IntPtr system);
        [DllImport(Lib)] internal static extern void saraphis_system_free(IntPtr system);
        [DllImport(Lib)] internal static extern int saraphis_system_device(SystemHandle system, byte* buf, UIntPtr capacity, out UIntPtr needed);
        [DllImport(Lib)] internal static extern int saraphis_params_new(uint codec, out IntPtr p);
        [DllImport(Lib)] internal static extern int saraphis_params_set(ParamsHandle p, uint key, double value);
        [DllImport(Lib)] internal static extern void saraphis_params_free(IntPtr p);
        [DllImport(Lib)] internal static extern int saraphis_compress(SystemHandle system, ParamsHandle p, byte* data, UIntPtr dataBytes, uint dtype, ulong* shape, UIntPtr ndim, out IntPtr buffer);
        [DllImport(Lib)] internal static extern int saraphis_compress_into(SystemHandle system, ParamsHandle p, byte* data, UIntPtr dataBytes, uint dtype, ulong* shape, UIntPtr ndim, byte* dst, UIntPtr capacity, out UIntPtr written);
        [DllImport(Lib)] internal static extern int saraphis_compress_bound(uint dtype, ulong* shape, UIntPtr ndim, ParamsHandle p, out UIntPtr bytes);
        [DllImport(Lib)] internal static extern IntPtr saraphis_buffer_data(IntPtr buffer);
        [DllImport(Lib)] internal static extern UIntPtr saraphis_buffer_len(IntPtr buffer);
        [DllImport(Lib)] internal static extern void saraphis_buffer_free(IntPtr buffer);
        [DllImport(Lib)] internal static extern int saraphis_decompress(SystemHandle system, byte* src, UIntPtr srcBytes, uint dtype, byte* dst, UIntPtr dstBytes);
        [DllImport(Lib)] internal static extern int saraphis_decompress_progressive(SystemHandle system, byte* src, UIntPtr srcBytes, uint dtype, uint planes, byte* dst, UIntPtr dstBytes, out double bound);
        [DllImport(Lib)] internal static extern int saraphis_decompress_device(SystemHandle system, IntPtr srcDev, UIntPtr srcBytes, uint dtype, IntPtr dstDev, UIntPtr dstBytes, IntPtr statusDev, UIntPtr statusLen, IntPtr stream);
        [DllImport(Lib)] internal static extern int saraphis_device_synchronize(SystemHandle system);
        [DllImport(Lib)] internal static extern int saraphis_compress_on_gpu(SystemHandle system, ParamsHandle p, byte* data, UIntPtr dataBytes, uint dtype, ulong* shape, UIntPtr ndim, out IntPtr buffer);
        [DllImport(Lib)] internal static extern int saraphis_compress_device_sizes(ParamsHandle p, uint dtype, ulong* shape, UIntPtr ndim, out UIntPtr tempBytes, out UIntPtr maxCompressedBytes);
        [DllImport(Lib)] internal static extern int saraphis_compress_device(SystemHandle system, ParamsHandle p, IntPtr srcDev, UIntPtr srcBytes, uint dtype, ulong* shape, UIntPtr ndim, IntPtr dstDev, UIntPtr dstCapacity, IntPtr tempDev, UIntPtr tempBytes, IntPtr compressedBytesDev, IntPtr stream);
        [DllImport(Lib)] internal static extern int saraphis_inspect(byte* src, UIntPtr srcBytes, out TensorInfo info);
        [DllImport(Lib)] internal static extern int saraphis_header_bytes(byte* src, UIntPtr srcBytes, out UIntPtr needed);
        [DllImport(Lib)] internal static extern int saraphis_archive_open(SystemHandle system, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, out IntPtr archive);
        [DllImport(Lib)] internal static extern int saraphis_archive_open_memory(SystemHandle system, IntPtr data, UIntPtr len, out IntPtr archive);
        [DllImport(Lib)] internal static extern void saraphis_archive_free(IntPtr archive);
        [DllImport(Lib)] internal static extern int saraphis_archive_tensor_count(ArchiveHandle archive, out UIntPtr n);
        [DllImport(Lib)] internal static extern IntPtr saraphis_archive_tensor_name(ArchiveHandle archive, UIntPtr i);
        [DllImport(Lib)] internal static extern int saraphis_archive_find(ArchiveHandle archive, [MarshalAs(UnmanagedType.LPUTF8Str)] string name, out UIntPtr i);
        [DllImport(Lib)] internal static extern int saraphis_archive_tensor_info(ArchiveHandle archive, UIntPtr i, out TensorInfo info);
        [DllImport(Lib)] internal static extern int saraphis_archive_decompress(ArchiveHandle archive, UIntPtr i, byte* dst, UIntPtr dstBytes);
        [DllImport(Lib)] internal static extern int saraphis_archive_set_base(ArchiveHandle archive, ArchiveHandle @base, out UIntPtr deltaTensors);
        [DllImport(Lib)] internal static extern int saraphis_archive_decompress_device(ArchiveHandle archive, UIntPtr i, IntPtr dstDev, UIntPtr dstBytes, IntPtr stream);
        [DllImport(Lib)] internal static extern int saraphis_archive_decompress_device_batch(ArchiveHandle archive, ArchiveOutput* outputs, UIntPtr count, IntPtr stream);
        [DllImport(Lib)] internal static extern int saraphis_tropical_elementwise(SystemHandle system, uint semiring, uint op, uint dtype, IntPtr a, IntPtr b, IntPtr output, UIntPtr len);
        [DllImport(Lib)] internal static extern int saraphis_tropical_matmul(SystemHandle system, uint semiring, uint dtype, IntPtr a, IntPtr b, IntPtr c, UIntPtr m, UIntPtr k, UIntPtr n, IntPtr argbest);
        [DllImport(Lib)] internal static extern int saraphis_tropical_poly_eval(SystemHandle system, uint semiring, uint dtype, IntPtr coeffs, UIntPtr polys, UIntPtr terms, IntPtr xs, UIntPtr points, IntPtr output);
        [DllImport(Lib)] internal static extern int saraphis_tropical_conv1d(SystemHandle system, uint semiring, uint dtype, IntPtr x, UIntPtr len, IntPtr w, UIntPtr kernelLen, IntPtr output);
        [DllImport(Lib)] internal static extern int saraphis_tropical_conv2d(SystemHandle system, uint semiring, uint dtype, IntPtr x, UIntPtr h, UIntPtr w, IntPtr kernel, UIntPtr kh, UIntPtr kw, IntPtr output);
        [DllImport(Lib)] internal static extern int saraphis_tropical_closure(SystemHandle system, uint semiring, uint dtype, IntPtr a, UIntPtr n, IntPtr output);
        [DllImport(Lib)] internal static extern int saraphis_tropical_matmul_device(SystemHandle system, uint semiring, uint dtype, IntPtr aDev, IntPtr bDev, IntPtr cDev, UIntPtr m, UIntPtr k, UIntPtr n, IntPtr argbestDev, IntPtr statusDev, IntPtr stream);
        [DllImport(Lib)] internal static extern int saraphis_padic_ring_new(uint prime, uint precision, out IntPtr ring);
        [DllImport(Lib)] internal static extern void saraphis_padic_ring_free(IntPtr ring);
        [DllImport(Lib)] internal static extern ulong saraphis_padic_ring_modulus(PadicRingHandle ring);
        [DllImport(Lib)] internal static extern int saraphis_padic_batch(SystemHandle system, PadicRingHandle ring, uint op, IntPtr a, IntPtr b, IntPtr output, UIntPtr len);
        [DllImport(Lib)] internal static extern int saraphis_padic_batch_device(SystemHandle system, PadicRingHandle ring, uint op, IntPtr aDev, IntPtr bDev, IntPtr outDev, UIntPtr len, IntPtr statusDev, IntPtr stream);
        [DllImport(Lib)] internal static extern int saraphis_padic_to_digits(PadicRingHandle ring, IntPtr a, UIntPtr len, IntPtr digits);
        [DllImport(Lib)] internal static extern int saraphis_padic_from_digits(PadicRingHandle ring, IntPtr digits, UIntPtr len, IntPtr output);
        [DllImport(Lib)] internal static extern int saraphis_padic_hensel_root(PadicRingHandle ring, IntPtr coeffs, UIntPtr nCoeffs, ulong r0, out ulong root);

        /// <summary>Throw for a failed result. Called on the thread that made the call, so the
        /// per-thread last-error message belongs to it.</summary>
        internal static void Check(int result)
        {
            if (result == 0) return;
            string text = Marshal.PtrToStringAnsi(saraphis_result_text((uint)result));
            string detail = Marshal.PtrToStringAnsi(saraphis_last_error_message());
            throw new SaraphisException(result, text + ": " + detail);
        }
    }

    internal sealed class ConfigHandle : SafeHandle
    {
        ConfigHandle() : base(IntPtr.Zero, true) { }
        internal ConfigHandle(IntPtr h) : base(IntPtr.Zero, true) { SetHandle(h); }
        public override bool IsInvalid => handle == IntPtr.Zero;
        protected override bool ReleaseHandle() { Native.saraphis_config_free(handle); return true; }
    }

    internal sealed class SystemHandle : SafeHandle
    {
        internal SystemHandle(IntPtr h) : base(IntPtr.Zero, true) { SetHandle(h); }
        public override bool IsInvalid => handle == IntPtr.Zero;
        protected override bool ReleaseHandle() { Native.saraphis_system_free(handle); return true; }
    }

    internal sealed class ParamsHandle : SafeHandle
    {
        internal ParamsHandle(IntPtr h) : base(IntPtr.Zero, true) { SetHandle(h); }
        public override bool IsInvalid => handle == IntPtr.Zero;
        protected override bool ReleaseHandle() { Native.saraphis_params_free(handle); return true; }
    }

    internal sealed class PadicRingHandle : SafeHandle
    {
        internal PadicRingHandle(IntPtr h) : base(IntPtr.Zero, true) { SetHandle(h); }
        public override bool IsInvalid => handle == IntPtr.Zero;
        protected override bool ReleaseHandle() { Native.saraphis_padic_ring_free(handle); return true; }
    }

    /// <summary>An array pinned for the duration of one call (IntPtr.Zero for null). Unlike
    /// `fixed`, an empty array gives a non-null pointer: the C calls take NULL for empty inputs,
    /// but an empty output given as NULL aborts a debug build of the library.</summary>
    internal struct Pinned : IDisposable
    {
        GCHandle h;
        internal readonly IntPtr Ptr;
        internal Pinned(Array a)
        {
            h = a == null ? default(GCHandle) : GCHandle.Alloc(a, GCHandleType.Pinned);
            Ptr = a == null ? IntPtr.Zero : h.AddrOfPinnedObject();
        }
        public void Dispose() { if (h.IsAllocated) h.Free(); }
    }

    /// <summary>An archive handle and the unmanaged copy of the bytes it was opened on
    /// (Archive.FromMemory; IntPtr.Zero for a file), freed in that order, exactly once.</summary>
    internal sealed class ArchiveHandle : SafeHandle
    {
        IntPtr memory;
        internal ArchiveHandle(IntPtr h, IntPtr memory) : base(IntPtr.Zero, true) { SetHandle(h); this.memory = memory; }
        public override bool IsInvalid => handle == IntPtr.Zero;
        protected override bool ReleaseHandle()
        {
            Native.saraphis_archive_free(handle);
            if (memory != IntPtr.Zero) { Marshal.FreeHGlobal(memory); memory = IntPtr.Zero; }
            return true;
        }
    }

    /// <summary>Library-wide functions.</summary>
    public static unsafe class Library
    {
        /// <summary>Run-time version, e.g. "0.2.0".</summary>
        public static string Version => Marshal.PtrToStringAnsi(Native.saraphis_version());
        /// <summary>MAJOR * 10000 + MINOR * 100 + PATCH.</summary>
        public static uint VersionNumber => Native.saraphis_version_number();

        /// <summary>True if the library embeds CUDA kernels.</summary>
        public static bool BuildHasCuda => Native.saraphis_build_has_cuda() == 1;
        /// <summary>Static text of a result code.</summary>
        public static string ResultText(int code) => Marshal.PtrToStringAnsi(Native.saraphis_result_text((uint)code));

        /// <summary>Worst-case container size for a tensor of dtype and shape under p.</summary>
        public static long CompressBound(DType dtype, ulong[] shape, Params p)
        {
            fixed (ulong* s = shape)
            {
                Native.Check(Native.saraphis_compress_bound((uint)dtype, s, (UIntPtr)shape.Length, p.Live, out UIntPtr n));
                return (long)n;
            }
        }

        /// <summary>What System.CompressDevice needs, known without a device: temporary device
        /// bytes and the largest container, for every codec.</summary>
        public static (long TempBytes, long MaxCompressedBytes) CompressDeviceSizes(DType dtype, ulong[] shape, Params p)
        {
            fixed (ulong* s = shape)
            {
                Native.Check(Native.saraphis_compress_device_sizes(p.Live, (uint)dtype, s, (UIntPtr)shape.Length, out UIntPtr t, out UIntPtr m));
                return ((long)t, (long)m);
            }
        }

        /// <summary>A prefix this long (8192 bytes) always lets HeaderBytes give the exact
        /// header length of a container this build writes: read this many bytes of a file (or
        /// all of it, if shorter), ask HeaderBytes, read more if it says so, then Inspect.</summary>
        public const int HeaderMaxBytes = 8192;

        /// <summary>How many bytes from the start of a container Inspect needs, judged from its
        /// first prefix.Length bytes (any number, 0 included): once the prefix reaches the
        /// header's chunk count (always from HeaderMaxBytes bytes on) the header's exact length,
        /// otherwise a longer prefix length to call again with (at most four rounds from 0
        /// bytes). A result &lt;= prefix.Length means the prefix holds the whole header. Only the
        /// magic is checked: throws code 2001 (bad magic) for 4 or more bytes that are not a
        /// container's start. Thread-safe.</summary>
        public static long HeaderBytes(ReadOnlySpan<byte> prefix)
        {
            fixed (byte* p = &MemoryMarshal.GetReference(prefix))
            {
                Native.Check(Native.saraphis_header_bytes(p, (UIntPtr)prefix.Length, out UIntPtr n));
                return (long)n;
            }
        }

        /// <summary>Read a container's header without decoding. The span is the whole container
        /// or any prefix that holds the header (HeaderBytes says how long that is); throws code
        /// 2003 (truncated) when it ends inside the header, 2001, 2004, 2005.</summary>
        public static TensorInfo Inspect(ReadOnlySpan<byte> container)
        {
            fixed (byte* p = &MemoryMarshal.GetReference(container))
            {
                Native.Check(Native.saraphis_inspect(p, (UIntPtr)container.Length, out TensorInfo info));
                return info;
            }
        }
    }

    /// <summary>System configuration.</summary>
    public sealed class Config : IDisposable
    {
        internal readonly ConfigHandle Handle;
        Config(IntPtr h) { Handle = new ConfigHandle(h); }

        /// <summary>Defaults: device auto, one thread per core, 2^18-element chunks.</summary>
        public Config() { Native.Check(Native.saraphis_config_new(out IntPtr h)); Handle = new ConfigHandle(h); }

        /// <summary>From JSON such as {"device":"cpu","threads":4}.</summary>
        public static Config FromJson(string json)
        {
            Native.Check(Native.saraphis_config_from_json(json, out IntPtr h));
            return new Config(h);
        }

        /// <summary>Defaults overridden by SARAPHIS_DEVICE, SARAPHIS_THREADS, SARAPHIS_CHUNK_ELEMS, SARAPHIS_VERIFY_CHECKSUMS.</summary>
        public static Config FromEnv()
        {
            Native.Check(Native.saraphis_config_from_env(out IntPtr h));
            return new Config(h);
        }

        internal ConfigHandle Live { get { if (Handle.IsClosed) throw new ObjectDisposedException(nameof(Config)); return Handle; } }
        public Config Threads(long n) { Native.Check(Native.saraphis_config_set(Live, 1, n)); return this; }
        public Config ChunkElems(long n) { Native.Check(Native.saraphis_config_set(Live, 2, n)); return this; }
        public Config VerifyChecksums(bool v) { Native.Check(Native.saraphis_config_set(Live, 3, v ? 1 : 0)); return this; }
        /// <summary>Any integer key (see ConfigKey and saraphis.h for its values); throws on a bad value.</summary>
        public Config Set(ConfigKey key, long value) { Native.Check(Native.saraphis_config_set(Live, (uint)key, value)); return this; }
        /// <summary>"auto", "cpu" or "cuda:N".</summary>
        public Config Device(string d) { Native.Check(Native.saraphis_config_set_device(Live, d)); return this; }
        public void Dispose() { Handle.Dispose(); }
    }

    /// <summary>Integer configuration keys (saraphis_config_key).</summary>
    public enum ConfigKey : uint
    {
        Threads = 1, ChunkElems = 2, VerifyChecksums = 3, Lanes = 4, GpuMemoryLimitMb = 5, CpuWorkers = 6,
        EnableProfiling = 7, MonitoringIntervalMs = 8, SwapPolicy = 9, OptimizationStrategy = 10, MemoryPressureMode = 11,
        PinnedHostLimitMb = 12,
    }

    /// <summary>Codec and parameters.</summary>
    public sealed class Params : IDisposable
    {
        internal readonly ParamsHandle Handle;
        public Params(Codec codec) { Native.Check(Native.saraphis_params_new((uint)codec, out IntPtr h)); Handle = new ParamsHandle(h); }
        public static Params Lossless() => new Params(Codec.Lossless);
        public static Params PadicAbs(double eps) => new Params(Codec.Padic).AbsBound(eps);
        internal ParamsHandle Live { get { if (Handle.IsClosed) throw new ObjectDisposedException(nameof(Params)); return Handle; } }
        Params Set(uint key, double v) { Native.Check(Native.saraphis_params_set(Live, key, v)); return this; }
        public Params Prime(uint p) => Set(1, p);
        public Params Precision(uint n) => Set(2, n);
        public Params AbsBound(double eps) => Set(3, eps);
        public Params RelBound(double eps) => Set(4, eps);
        public Params ChunkElems(uint n) => Set(5, n);
        /// <summary>Most rANS lanes per stream (0 = 32, up to 128; more decode faster on GPUs).</summary>
        public Params Lanes(uint n) => Set(6, n);
        /// <summary>Quant: bits per element, 2..8.</summary>
        public Params Bits(uint n) => Set(7, n);
        /// <summary>Quant: block length along the last axis, a power of two in 16..4096.</summary>
        public Params Block(uint n) => Set(8, n);
        /// <summary>Quant: one scale per index along this axis (per-channel).</summary>
        public Params Axis(uint a) => Set(9, a);
        /// <summary>Quant: 0 blocks, 1 channels, 2 one global scale.</summary>
        public Params Grouping(uint g) => Set(10, g);
        /// <summary>Quant: dtype of the scales (F32, F16 or BF16).</summary>
        public Params ScaleDType(DType d) => Set(11, (uint)d);
        /// <summary>Quant: store a minimum per group (asymmetric).</summary>
        public Params ZeroPoint(bool on) => Set(12, on ? 1 : 0);
        /// <summary>Auto: keep the fastest-decoding codec reaching this ratio (0 = none).</summary>
        public Params TargetRatio(double r) => Set(13, r);
        /// <summary>Auto: 0 the highest ratio, 1 the fastest decoder within 5% of it.</summary>
        public Params Priority(uint p) => Set(14, p);
        /// <summary>llama.cpp's Q8_0 layout (8 bits, blocks of 32, F16 scales), or other bits.</summary>
        public static Params Quant(uint bits = 8) => new Params(Codec.Quant).Bits(bits);
        public void Dispose() { Handle.Dispose(); }
    }

    /// <summary>The coordinator; thread-safe.</summary>
    public sealed unsafe class SaraphisSystem : IDisposable
    {
        readonly SystemHandle handle;

        public SaraphisSystem() : this(null) { }
        public SaraphisSystem(Config config)
        {
            IntPtr h;
            if (config == null)
            {
                using (var d = new Config()) Native.Check(Native.saraphis_system_new(d.Live, out h));
            }
            else
            {
                Native.Check(Native.saraphis_system_new(config.Live, out h));
            }
            handle = new SystemHandle(h);
        }

        internal SystemHandle Live { get { if (handle.IsClosed) throw new ObjectDisposedException(nameof(SaraphisSystem)); return handle; } }

        /// <summary>The device in use and why.</summary>
        public string Device
        {
            get
            {
                var buf = new byte[512];
                fixed (byte* p = buf)
                {
                    Native.Check(Native.saraphis_system_device(Live, p, (UIntPtr)buf.Length, out UIntPtr need));
                    return System.Text.Encoding.UTF8.GetString(buf, 0, (int)need - 1);
                }
            }
        }

        /// <summary>Compress little-endian element bytes of dtype and shape into a new container.</summary>
        public byte[] Compress(ReadOnlySpan<byte> data, DType dtype, ulong[] shape, Params p)
        {
            IntPtr buf;
            fixed (byte* d = &MemoryMarshal.GetReference(data))
            fixed (ulong* s = shape)
            {
                Native.Check(Native.saraphis_compress(Live, p.Live, d, (UIntPtr)data.Length, (uint)dtype, s, (UIntPtr)shape.Length, out buf));
            }
            return TakeBuffer(buf);
        }

        /// <summary>Copy a library buffer into managed memory and free it.</summary>
        static byte[] TakeBuffer(IntPtr buf)
        {
            try
            {
                var result = new byte[(long)Native.saraphis_buffer_len(buf)];
                Marshal.Copy(Native.saraphis_buffer_data(buf), result, 0, result.Length);
                return result;
            }
            finally
            {
                Native.saraphis_buffer_free(buf);
            }
        }

        /// <summary>Compress into dst (sized by Library.CompressBound); returns the container length.</summary>
        public int CompressInto(ReadOnlySpan<byte> data, DType dtype, ulong[] shape, Params p, Span<byte> dst)
        {
            fixed (byte* d = &MemoryMarshal.GetReference(data))
            fixed (ulong* s = shape)
            fixed (byte* o = &MemoryMarshal.GetReference(dst))
            {
                Native.Check(Native.saraphis_compress_into(Live, p.Live, d, (UIntPtr)data.Length, (uint)dtype, s, (UIntPtr)shape.Length, o, (UIntPtr)dst.Length, out UIntPtr written));
                return (int)written;
            }
        }

        public byte[] Compress(float[] data, ulong[] shape, Params p) => Compress(MemoryMarshal.AsBytes(data.AsSpan()), DType.F32, shape, p);
        /// <summary>F16 or BF16 bit patterns.</summary>
        public byte[] Compress(ushort[] data, DType dtype, ulong[] shape, Params p) => Compress(MemoryMarshal.AsBytes(data.AsSpan()), dtype, shape, p);

        /// <summary>Decode a container into dst, which must be exactly the tensor's size.</summary>
        public void Decompress(ReadOnlySpan<byte> container, DType dtype, Span<byte> dst)
        {
            fixed (byte* c = &MemoryMarshal.GetReference(container))
            fixed (byte* d = &MemoryMarshal.GetReference(dst))
            {
                Native.Check(Native.saraphis_decompress(Live, c, (UIntPtr)container.Length, (uint)dtype, d, (UIntPtr)dst.Length));
            }
        }

        public void Decompress(byte[] container, float[] dst) => Decompress(container, DType.F32, MemoryMarshal.AsBytes(dst.AsSpan()));
        public void Decompress(byte[] container, DType dtype, ushort[] dst) => Decompress(container, dtype, MemoryMarshal.AsBytes(dst.AsSpan()));

        /// <summary>Decode only the top `planes` p-adic digit planes; returns the bound that holds.</summary>
        public double DecompressProgressive(ReadOnlySpan<byte> container, DType dtype, uint planes, Span<byte> dst)
        {
            fixed (byte* c = &MemoryMarshal.GetReference(container))
            fixed (byte* d = &MemoryMarshal.GetReference(dst))
            {
                Native.Check(Native.saraphis_decompress_progressive(Live, c, (UIntPtr)container.Length, (uint)dtype, planes, d, (UIntPtr)dst.Length, out double bound));
                return bound;
            }
        }

        /// <summary>Enqueue a decode (any codec) from device memory to device memory on a CUstream
        /// (IntPtr.Zero = the library's own stream: wait with DeviceSynchronize); per-chunk codes
        /// go to statusDev (may be zero). Returns once enqueued. Throws code 4001 when the system
        /// has no CUDA device.</summary>
        public void DecompressDevice(IntPtr srcDev, long srcBytes, DType dtype, IntPtr dstDev, long dstBytes, IntPtr statusDev, long statusLen, IntPtr stream)
        {
            Native.Check(Native.saraphis_decompress_device(Live, srcDev, (UIntPtr)srcBytes, (uint)dtype, dstDev, (UIntPtr)dstBytes, statusDev, (UIntPtr)statusLen, stream));
        }

        /// <summary>Wait for the work enqueued on the library's own stream (device calls given
        /// IntPtr.Zero). Throws code 4001 on a CPU system or if that work failed.</summary>
        public void DeviceSynchronize() => Native.Check(Native.saraphis_device_synchronize(Live));

        /// <summary>Compress on the system's GPU from host memory (synchronous); bit-exact codecs
        /// give the same bytes as Compress, p-adic a container within the bound whose bytes may
        /// differ. Throws code 4001 on a CPU system.</summary>
        public byte[] CompressOnGpu(ReadOnlySpan<byte> data, DType dtype, ulong[] shape, Params p)
        {
            IntPtr buf;
            fixed (byte* d = &MemoryMarshal.GetReference(data))
            fixed (ulong* s = shape)
            {
                Native.Check(Native.saraphis_compress_on_gpu(Live, p.Live, d, (UIntPtr)data.Length, (uint)dtype, s, (UIntPtr)shape.Length, out buf));
            }
            return TakeBuffer(buf);
        }

        /// <summary>Enqueue GPU compression of a tensor in device memory into dstDev (capacity
        /// from Library.CompressDeviceSizes) on a CUstream (IntPtr.Zero = the library's own stream); the
        /// container length goes to the device ulong at compressedBytesDev. tempDev = IntPtr.Zero:
        /// the library allocates its temporary memory stream-ordered. Returns once enqueued.
        /// Throws code 4001 when the system has no CUDA device.</summary>
        public void CompressDevice(IntPtr srcDev, long srcBytes, DType dtype, ulong[] shape, Params p, IntPtr dstDev, long dstCapacity, IntPtr tempDev, long tempBytes, IntPtr compressedBytesDev, IntPtr stream)
        {
            fixed (ulong* s = shape)
            {
                Native.Check(Native.saraphis_compress_device(Live, p.Live, srcDev, (UIntPtr)srcBytes, (uint)dtype, s, (UIntPtr)shape.Length, dstDev, (UIntPtr)dstCapacity, tempDev, (UIntPtr)tempBytes, compressedBytesDev, stream));
            }
        }

        public void Dispose() { handle.Dispose(); }
    }
    /// <summary>An opened .sph archive (a whole model, as `saraphis compress model.safetensors
    /// -o model.sph` writes it): its tensors by index (0 .. Count-1, the order of their data in
    /// the original safetensors file) or by name, described without decoding (Info) and decoded
    /// into host memory (Decompress) or, on a CUDA system, into device memory
    /// (DecompressDevice, DecompressDeviceBatch). Thread-safe, decodes included; Dispose must
    /// not run concurrently with another call, and every call after it throws
    /// ObjectDisposedException. The native archive holds its own reference to the system, so the
    /// SaraphisSystem may be disposed first.</summary>
    public sealed unsafe class Archive : IDisposable
    {
        readonly ArchiveHandle handle;

        // No reference to the SaraphisSystem is needed: the native archive holds the native system.
        Archive(ArchiveHandle handle) { this.handle = handle; }

        /// <summary>Open (memory-map read-only) the .sph archive file at path. Checks the file
        /// header, the index and every container's header against its index entry; no payload
        /// is read, so opening costs neither time nor memory in proportion to the model. Throws
        /// code 3001 (I/O: a missing or unreadable file, named in the message), 2001, 2002,
        /// 2003, 2004, 2005, 2006 (a dtype this build does not know), 1001 (a directory, a path
        /// with a NUL character). Another process truncating the file while it is mapped is the
        /// hazard of every memory-mapped reader (SIGBUS).</summary>
        public static Archive Open(SaraphisSystem system, string path)
        {
            if (system == null) throw new ArgumentNullException(nameof(system));
            if (path == null) throw new ArgumentNullException(nameof(path));
            if (path.IndexOf('\0') >= 0) throw new SaraphisException(1001, Library.ResultText(1001) + ": path contains a NUL character");
            Native.Check(Native.saraphis_archive_open(system.Live, path, out IntPtr h));
            return new Archive(new ArchiveHandle(h, IntPtr.Zero));
        }

        /// <summary>Open an archive held in memory (a whole .sph file's bytes). The bytes are
        /// copied into unmanaged memory that the Archive owns and frees on Dispose (after the
        /// native archive), so data may be reused at once. Checks and errors as Open, without
        /// 3001.</summary>
        public static Archive FromMemory(SaraphisSystem system, ReadOnlySpan<byte> data)
        {
            if (system == null) throw new ArgumentNullException(nameof(system));
            var live = system.Live;
            IntPtr mem = IntPtr.Zero;
            try
            {
                if (data.Length > 0)
                {
                    mem = Marshal.AllocHGlobal(data.Length);
                    data.CopyTo(new Span<byte>((void*)mem, data.Length));
                }
                Native.Check(Native.saraphis_archive_open_memory(live, mem, (UIntPtr)data.Length, out IntPtr h));
                var a = new Archive(new ArchiveHandle(h, mem));
                mem = IntPtr.Zero; // owned by the handle now
                return a;
            }
            finally
            {
                if (mem != IntPtr.Zero) Marshal.FreeHGlobal(mem);
            }
        }

        /// <summary>As FromMemory(system, ReadOnlySpan), from an array.</summary>
        public static Archive FromMemory(SaraphisSystem system, byte[] data)
        {
            if (data == null) throw new ArgumentNullException(nameof(data));
            return FromMemory(system, new ReadOnlySpan<byte>(data));
        }

        ArchiveHandle Live { get { if (handle.IsClosed) throw new ObjectDisposedException(nameof(Archive)); return handle; } }

        static UIntPtr Index(int i)
        {
            if (i < 0) throw new SaraphisException(1001, Library.ResultText(1001) + ": tensor index " + i + " out of range");
            return (UIntPtr)(uint)i;
        }

        /// <summary>Number of tensors.</summary>
        public int Count
        {
            get
            {
                Native.Check(Native.saraphis_archive_tensor_count(Live, out UIntPtr n));
                return (int)(ulong)n;
            }
        }

        /// <summary>Name of tensor i (as in the original safetensors file). Throws code 1001
        /// when i is out of range.</summary>
        public string Name(int i)
        {
            var h = Live;
            bool added = false;
            try
            {
                h.DangerousAddRef(ref added); // the name lives until the archive is freed
                byte* p = (byte*)Native.saraphis_archive_tensor_name(h, Index(i));
                if (p == null) throw new SaraphisException(1001, Library.ResultText(1001) + ": tensor index " + i + " out of range");
                int n = 0;
                while (p[n] != 0) n++;
                return System.Text.Encoding.UTF8.GetString(p, n);
            }
            finally
            {
                if (added) h.DangerousRelease();
            }
        }

        /// <summary>Index of the tensor called name. Throws code 1003 (not found).</summary>
        public int Find(string name)
        {
            if (name == null) throw new ArgumentNullException(nameof(name));
            // No tensor name holds a NUL; the native side would see only the part before it.
            if (name.IndexOf('\0') >= 0) throw new SaraphisException(1003, Library.ResultText(1003) + ": the name contains a NUL character");
            Native.Check(Native.saraphis_archive_find(Live, name, out UIntPtr i));
            return (int)(ulong)i;
        }

        /// <summary>Header information of tensor i, read at open (nothing is decoded): dtype,
        /// codec, shape, OriginalBytes (the decoded tensor's bytes), CompressedBytes (its
        /// container in the archive), chunks, and for p-adic tensors the bound, prime and digit
        /// planes. Throws code 1001 when i is out of range.</summary>
        public TensorInfo Info(int i)
        {
            Native.Check(Native.saraphis_archive_tensor_info(Live, Index(i), out TensorInfo info));
            return info;
        }

        /// <summary>Decode tensor i on the CPU (the system's worker threads) into a new array of
        /// its OriginalBytes: little-endian elements of its dtype, row-major; bit for bit for
        /// exact codecs, within the recorded bound for p-adic ones. The container's CRC-32 from
        /// the index and its chunks' checksums (unless the config says the data is trusted) are
        /// checked first. Throws code 1001 (i out of range), 2004 (the container or a chunk was
        /// altered; the message names the tensor), 2005.</summary>
        public byte[] Decompress(int i)
        {
            var dst = new byte[checked((long)Info(i).OriginalBytes)];
            Decompress(i, dst);
            return dst;
        }

        /// <summary>Attach the base model of this archive's delta tensors (FORMAT.md §10, the
        /// CLI's --base), opened as an archive: each base tensor is checked against the hash its
        /// delta tensor records (code 1001, SARAPHIS_ERR_INVALID_ARGUMENT, for a wrong or missing one,
        /// nothing attached). This archive keeps its own reference to the base. Returns the number
        /// of delta tensors. Thread-safe.</summary>
        public int SetBase(Archive @base)
        {
            Native.Check(Native.saraphis_archive_set_base(Live, @base.Live, out UIntPtr n));
            return checked((int)n);
        }

        /// <summary>Decode tensor i on the CPU into dst, exactly the tensor's OriginalBytes long
        /// (else code 1002, nothing written). Errors as Decompress(int); on a data error dst holds
        /// unspecified bytes.</summary>
        public void Decompress(int i, Span<byte> dst)
        {
            var ix = Index(i);
            fixed (byte* d = &MemoryMarshal.GetReference(dst))
            {
                Native.Check(Native.saraphis_archive_decompress(Live, ix, d, (UIntPtr)dst.Length));
            }
        }

        /// <summary>Enqueue a decode of tensor i into device memory dstDev (bytes long: exactly
        /// the tensor's OriginalBytes, aligned to its element size) on a CUstream / cudaStream_t
        /// of the system GPU's primary context (IntPtr.Zero = the library's own stream: wait with
        /// SaraphisSystem.DeviceSynchronize). The tensor's container is uploaded once, after its
        /// CRC-32 check, and kept in device memory until Dispose. The first device decode of
        /// each tensor waits for the stream and checks every chunk on the host (a tensor the GPU
        /// kernels cannot decode is then decoded on the CPU and copied, from then on); later
        /// calls only enqueue. Throws code 4001 (no CUDA device in this system, out of device
        /// memory, launch failure), 1001 (i out of range, zero or misaligned dstDev), 1002 (wrong
        /// size), 2004, 2005 (a chunk failed on the GPU, named).</summary>
        public void DecompressDevice(int i, IntPtr dstDev, long bytes, IntPtr stream)
        {
            if (bytes < 0) throw new SaraphisException(1001, Library.ResultText(1001) + ": negative destination length");
            Native.Check(Native.saraphis_archive_decompress_device(Live, Index(i), dstDev, (UIntPtr)(ulong)bytes, stream));
        }

        /// <summary>Enqueue the decode of several tensors into device memory on a CUstream
        /// (IntPtr.Zero = the library's own stream), as DecompressDevice for each; destinations
        /// must not overlap. Every output is checked before anything is enqueued. Lossless-v2
        /// tensors already decoded once on the GPU share one launch per 256 tensors (warm, a
        /// whole model is one launch); the others take one launch each. outputs is read during
        /// the call only. Errors as DecompressDevice, naming the failing tensor.</summary>
        public void DecompressDeviceBatch(ArchiveOutput[] outputs, IntPtr stream)
        {
            if (outputs == null) throw new ArgumentNullException(nameof(outputs));
            fixed (ArchiveOutput* o = outputs)
            {
                Native.Check(Native.saraphis_archive_decompress_device_batch(Live, o, (UIntPtr)outputs.Length, stream));
            }
        }

        /// <summary>Free the archive (its map or its copy of the bytes, and the containers it
        /// keeps in device memory); later calls are no-ops. Device work enqueued through the
        /// archive must be finished first.</summary>
        public void Dispose() { handle.Dispose(); }
    }

    /// <summary>Tropical algebra (max-plus / min-plus) on the system's CPU worker pool, over float,
    /// double and int arrays (row-major matrices). Inputs are read only; outputs must not overlap
    /// them (code 1002) and are written only on success. Array lengths must match the sizes given
    /// (code 1001 for an input, 1002 for an output). Thread-safe.</summary>
    public static class Tropical
    {
        const uint F32 = (uint)DType.F32, F64 = (uint)DType.F64, I32 = (uint)DType.I32;

        static int Len(Array a) => a == null ? 0 : a.Length;

        static void Want(string what, Array a, long want, bool output)
        {
            if (Len(a) == want) return;
            int code = output ? 1002 : 1001;
            throw new SaraphisException(code, Library.ResultText(code) + ": " + what + " has " + Len(a) + " elements, expected " + want);
        }

        static UIntPtr Size(int v, string name)
        {
            if (v < 0) throw new ArgumentOutOfRangeException(name);
            return (UIntPtr)(uint)v;
        }

        /// <summary>The product C = A ⊗ B: c[i*n+j] = ⊕_l a[i*k+l] ⊗ b[l*n+j] (a m × k, b k × n, c m × n).
        /// argbest: null, or m*n entries that get the smallest l attaining each entry (uint.MaxValue
        /// where it is the zero: no path).</summary>
        public static void Matmul(SaraphisSystem sys, Semiring s, float[] a, float[] b, float[] c, int m, int k, int n, uint[] argbest = null) => MatmulCore(sys, s, F32, a, b, c, m, k, n, argbest);
        public static void Matmul(SaraphisSystem sys, Semiring s, double[] a, double[] b, double[] c, int m, int k, int n, uint[] argbest = null) => MatmulCore(sys, s, F64, a, b, c, m, k, n, argbest);
        public static void Matmul(SaraphisSystem sys, Semiring s, int[] a, int[] b, int[] c, int m, int k, int n, uint[] argbest = null) => MatmulCore(sys, s, I32, a, b, c, m, k, n, argbest);

        static void MatmulCore(SaraphisSystem sys, Semiring s, uint dtype, Array a, Array b, Array c, int m, int k, int n, uint[] argbest)
        {
            UIntPtr um = Size(m, nameof(m)), uk = Size(k, nameof(k)), un = Size(n, nameof(n));
            Want("a", a, (long)m * k, false);
            Want("b", b, (long)k * n, false);
            Want("c", c, (long)m * n, true);
            if (argbest != null) Want("argbest", argbest, (long)m * n, true);
            using (var pa = new Pinned(a))
            using (var pb = new Pinned(b))
            using (var pc = new Pinned(c))
            using (var pg = new Pinned(argbest))
            {
                Native.Check(Native.saraphis_tropical_matmul(sys.Live, (uint)s, dtype, pa.Ptr, pb.Ptr, pc.Ptr, um, uk, un, pg.Ptr));
            }
        }

        /// <summary>output[i] = a[i] ⊕ b[i] (TropicalOp.Add) or a[i] ⊗ b[i] (TropicalOp.Mul).</summary>
        public static void Elementwise(SaraphisSystem sys, Semiring s, TropicalOp op, float[] a, float[] b, float[] output) => ElementwiseCore(sys, s, op, F32, a, b, output);
        public static void Elementwise(SaraphisSystem sys, Semiring s, TropicalOp op, double[] a, double[] b, double[] output) => ElementwiseCore(sys, s, op, F64, a, b, output);
        public static void Elementwise(SaraphisSystem sys, Semiring s, TropicalOp op, int[] a, int[] b, int[] output) => ElementwiseCore(sys, s, op, I32, a, b, output);

        static void ElementwiseCore(SaraphisSystem sys, Semiring s, TropicalOp op, uint dtype, Array a, Array b, Array output)
        {
            Want("b", b, Len(a), false);
            Want("output", output, Len(a), true);
            using (var pa = new Pinned(a))
            using (var pb = new Pinned(b))
            using (var po = new Pinned(output))
            {
                Native.Check(Native.saraphis_tropical_elementwise(sys.Live, (uint)s, (uint)op, dtype, pa.Ptr, pb.Ptr, po.Ptr, (UIntPtr)(uint)Len(a)));
            }
        }

        /// <summary>Tropical polynomials: output[q*xs.Length+x] = ⊕_i coeffs[q*terms+i] ⊗ xs[x]^{⊗i}
        /// (max-plus: max_i coeffs[q*terms+i] + i·xs[x]); coeffs.Length a multiple of terms (>= 1).</summary>
        public static void PolyEval(SaraphisSystem sys, Semiring s, float[] coeffs, int terms, float[] xs, float[] output) => PolyCore(sys, s, F32, coeffs, terms, xs, output);
        public static void PolyEval(SaraphisSystem sys, Semiring s, double[] coeffs, int terms, double[] xs, double[] output) => PolyCore(sys, s, F64, coeffs, terms, xs, output);
        public static void PolyEval(SaraphisSystem sys, Semiring s, int[] coeffs, int terms, int[] xs, int[] output) => PolyCore(sys, s, I32, coeffs, terms, xs, output);

        static void PolyCore(SaraphisSystem sys, Semiring s, uint dtype, Array coeffs, int terms, Array xs, Array output)
        {
            if (terms <= 0 || Len(coeffs) % terms != 0)
                throw new SaraphisException(1001, Library.ResultText(1001) + ": " + Len(coeffs) + " coefficients in terms of " + terms);
            int polys = Len(coeffs) / terms;
            Want("output", output, (long)polys * Len(xs), true);
            using (var pc = new Pinned(coeffs))
            using (var px = new Pinned(xs))
            using (var po = new Pinned(output))
            {
                Native.Check(Native.saraphis_tropical_poly_eval(sys.Live, (uint)s, dtype, pc.Ptr, (UIntPtr)(uint)polys, (UIntPtr)(uint)terms, px.Ptr, (UIntPtr)(uint)Len(xs), po.Ptr));
            }
        }

        /// <summary>1-D convolution, valid part, as a correlation: output[i] = ⊕_j x[i+j] ⊗ w[j]
        /// (1 &lt;= w.Length &lt;= x.Length, output.Length = x.Length - w.Length + 1).</summary>
        public static void Conv1D(SaraphisSystem sys, Semiring s, float[] x, float[] w, float[] output) => Conv1DCore(sys, s, F32, x, w, output);
        public static void Conv1D(SaraphisSystem sys, Semiring s, double[] x, double[] w, double[] output) => Conv1DCore(sys, s, F64, x, w, output);
        public static void Conv1D(SaraphisSystem sys, Semiring s, int[] x, int[] w, int[] output) => Conv1DCore(sys, s, I32, x, w, output);

        static void Conv1DCore(SaraphisSystem sys, Semiring s, uint dtype, Array x, Array w, Array output)
        {
            if (Len(w) == 0 || Len(w) > Len(x))
                throw new SaraphisException(1001, Library.ResultText(1001) + ": kernel of " + Len(w) + " for an input of " + Len(x));
            Want("output", output, Len(x) - Len(w) + 1, true);
            using (var px = new Pinned(x))
            using (var pw = new Pinned(w))
            using (var po = new Pinned(output))
            {
                Native.Check(Native.saraphis_tropical_conv1d(sys.Live, (uint)s, dtype, px.Ptr, (UIntPtr)(uint)Len(x), pw.Ptr, (UIntPtr)(uint)Len(w), po.Ptr));
            }
        }

        /// <summary>2-D convolution, valid part, as a correlation (grey-scale dilation for max-plus):
        /// x h × w, kernel kh × kw (1 &lt;= kh &lt;= h, 1 &lt;= kw &lt;= w), output (h-kh+1) × (w-kw+1).</summary>
        public static void Conv2D(SaraphisSystem sys, Semiring s, float[] x, int h, int w, float[] kernel, int kh, int kw, float[] output) => Conv2DCore(sys, s, F32, x, h, w, kernel, kh, kw, output);
        public static void Conv2D(SaraphisSystem sys, Semiring s, double[] x, int h, int w, double[] kernel, int kh, int kw, double[] output) => Conv2DCore(sys, s, F64, x, h, w, kernel, kh, kw, output);
        public static void Conv2D(SaraphisSystem sys, Semiring s, int[] x, int h, int w, int[] kernel, int kh, int kw, int[] output) => Conv2DCore(sys, s, I32, x, h, w, kernel, kh, kw, output);

        static void Conv2DCore(SaraphisSystem sys, Semiring s, uint dtype, Array x, int h, int w, Array kernel, int kh, int kw, Array output)
        {
            if (kh <= 0 || kw <= 0 || kh > h || kw > w)
                throw new SaraphisException(1001, Library.ResultText(1001) + ": kernel " + kh + " x " + kw + " for an input of " + h + " x " + w);
            Want("x", x, (long)h * w, false);
            Want("kernel", kernel, (long)kh * kw, false);
            Want("output", output, (long)(h - kh + 1) * (w - kw + 1), true);
            using (var px = new Pinned(x))
            using (var pk = new Pinned(kernel))
            using (var po = new Pinned(output))
            {
                Native.Check(Native.saraphis_tropical_conv2d(sys.Live, (uint)s, dtype, px.Ptr, (UIntPtr)(uint)h, (UIntPtr)(uint)w, pk.Ptr, (UIntPtr)(uint)kh, (UIntPtr)(uint)kw, po.Ptr));
            }
        }

        /// <summary>The Kleene closure A* = I ⊕ A ⊕ A^2 ⊕ ... of the n × n matrix a into output:
        /// all-pairs heaviest (max-plus) or shortest (min-plus) path weights. Throws code 1001 when a
        /// cycle gains weight (the closure diverges) or int path weights pass 2^28.</summary>
        public static void Closure(SaraphisSystem sys, Semiring s, float[] a, int n, float[] output) => ClosureCore(sys, s, F32, a, n, output);
        public static void Closure(SaraphisSystem sys, Semiring s, double[] a, int n, double[] output) => ClosureCore(sys, s, F64, a, n, output);
        public static void Closure(SaraphisSystem sys, Semiring s, int[] a, int n, int[] output) => ClosureCore(sys, s, I32, a, n, output);

        static void ClosureCore(SaraphisSystem sys, Semiring s, uint dtype, Array a, int n, Array output)
        {
            UIntPtr un = Size(n, nameof(n));
            Want("a", a, (long)n * n, false);
            Want("output", output, (long)n * n, true);
            using (var pa = new Pinned(a))
            using (var po = new Pinned(output))
            {
                Native.Check(Native.saraphis_tropical_closure(sys.Live, (uint)s, dtype, pa.Ptr, un, po.Ptr));
            }
        }

        /// <summary>Enqueue Matmul on the system's GPU on a CUstream (IntPtr.Zero = the library's own
        /// stream: wait with SaraphisSystem.DeviceSynchronize). aDev, bDev, cDev (and argbestDev unless
        /// zero) are device memory of m*k, k*n, m*n elements of dtype (F32, F64 or I32); statusDev is
        /// zero or one device int the kernel ORs with 1 when an int input is out of range. Throws
        /// code 4001 on a CPU system.</summary>
        public static void MatmulDevice(SaraphisSystem sys, Semiring s, DType dtype, IntPtr aDev, IntPtr bDev, IntPtr cDev, long m, long k, long n, IntPtr argbestDev, IntPtr statusDev, IntPtr stream)
        {
            if (m < 0 || k < 0 || n < 0) throw new ArgumentOutOfRangeException(m < 0 ? nameof(m) : k < 0 ? nameof(k) : nameof(n));
            Native.Check(Native.saraphis_tropical_matmul_device(sys.Live, (uint)s, (uint)dtype, aDev, bDev, cDev, (UIntPtr)(ulong)m, (UIntPtr)(ulong)k, (UIntPtr)(ulong)n, argbestDev, statusDev, stream));
        }
    }

    /// <summary>The ring Z/p^N (a prime p &lt;= 65521, N >= 1, p^N &lt;= 2^62) of p-adic residues
    /// (ulong in [0, p^N)): batch arithmetic, digits, Hensel lifting. Immutable: thread-safe.
    /// Batch calls take the SaraphisSystem whose worker pool (or GPU) runs them.</summary>
    public sealed class PadicRing : IDisposable
    {
        readonly PadicRingHandle handle;

        /// <summary>Throws code 1001 when prime is not a prime &lt;= 65521, precision is 0 or
        /// prime^precision > 2^62.</summary>
        public PadicRing(uint prime, uint precision)
        {
            Native.Check(Native.saraphis_padic_ring_new(prime, precision, out IntPtr h));
            handle = new PadicRingHandle(h);
            Prime = prime;
            Precision = precision;
        }

        internal PadicRingHandle Live { get { if (handle.IsClosed) throw new ObjectDisposedException(nameof(PadicRing)); return handle; } }

        /// <summary>p.</summary>
        public uint Prime { get; }
        /// <summary>N, the digits of a residue.</summary>
        public uint Precision { get; }
        /// <summary>p^N.</summary>
        public ulong Modulus => Native.saraphis_padic_ring_modulus(Live);

        /// <summary>output[i] = a[i] op b[i] (Add, Sub, Mul) or op a[i] (Neg, Inverse, Valuation: b
        /// null), on the system's worker pool; the arrays have the same length. Throws code 1001 for
        /// an input >= p^N (the message names its index) or a non-unit to invert; output is written
        /// only on success and must not overlap the inputs.</summary>
        public void Batch(SaraphisSystem sys, PadicOp op, ulong[] a, ulong[] b, ulong[] output)
        {
            int len = a == null ? 0 : a.Length;
            if (b != null && b.Length != len)
                throw new SaraphisException(1001, Library.ResultText(1001) + ": b has " + b.Length + " elements, a " + len);
            if ((output == null ? 0 : output.Length) != len)
                throw new SaraphisException(1002, Library.ResultText(1002) + ": output has " + (output == null ? 0 : output.Length) + " elements, a " + len);
            using (var pa = new Pinned(a))
            using (var pb = new Pinned(b))
            using (var po = new Pinned(output))
            {
                Native.Check(Native.saraphis_padic_batch(sys.Live, Live, (uint)op, pa.Ptr, pb.Ptr, po.Ptr, (UIntPtr)(uint)len));
            }
        }

        /// <summary>Batch into a new array.</summary>
        public ulong[] Batch(SaraphisSystem sys, PadicOp op, ulong[] a, ulong[] b = null)
        {
            var output = new ulong[a == null ? 0 : a.Length];
            Batch(sys, op, a, b, output);
            return output;
        }

        /// <summary>Enqueue Batch on the system's GPU on a CUstream (IntPtr.Zero = the library's own
        /// stream); aDev, bDev (zero for unary ops) and outDev are device arrays of len ulong; statusDev
        /// is zero or one device int the kernel ORs with 1 when an input is >= p^N. Inverse is host
        /// only (code 2006); code 4001 on a CPU system.</summary>
        public void BatchDevice(SaraphisSystem sys, PadicOp op, IntPtr aDev, IntPtr bDev, IntPtr outDev, long len, IntPtr statusDev, IntPtr stream)
        {
            if (len < 0) throw new ArgumentOutOfRangeException(nameof(len));
            Native.Check(Native.saraphis_padic_batch_device(sys.Live, Live, (uint)op, aDev, bDev, outDev, (UIntPtr)(ulong)len, statusDev, stream));
        }

        /// <summary>Base-p digits of residues, least significant first: element i*N + j is digit j of
        /// a[i]. Throws code 1001 for an input >= p^N.</summary>
        public uint[] ToDigits(ulong[] a)
        {
            int len = a == null ? 0 : a.Length;
            var digits = new uint[checked(len * (int)Precision)];
            using (var pa = new Pinned(a))
            using (var pd = new Pinned(digits))
            {
                Native.Check(Native.saraphis_padic_to_digits(Live, pa.Ptr, (UIntPtr)(uint)len, pd.Ptr));
            }
            return digits;
        }

        /// <summary>Residues from digits (a multiple of N, each &lt; p): the inverse of ToDigits.</summary>
        public ulong[] FromDigits(uint[] digits)
        {
            int nd = digits == null ? 0 : digits.Length;
            if (nd % (int)Precision != 0)
                throw new SaraphisException(1001, Library.ResultText(1001) + ": " + nd + " digits are not a multiple of N = " + Precision);
            var output = new ulong[nd / (int)Precision];
            using (var pd = new Pinned(digits))
            using (var po = new Pinned(output))
            {
                Native.Check(Native.saraphis_padic_from_digits(Live, pd.Ptr, (UIntPtr)(uint)output.Length, po.Ptr));
            }
            return output;
        }

        /// <summary>The root in Z/p^N of sum_i coeffs[i] x^i (residues, constant term first) that is
        /// congruent to r0 mod p, lifted by Hensel's lemma. Throws code 1001 when r0 is not a simple
        /// root mod p, a coefficient is >= p^N or there are none.</summary>
        public ulong HenselRoot(ulong[] coeffs, ulong r0)
        {
            using (var pc = new Pinned(coeffs))
            {
                Native.Check(Native.saraphis_padic_hensel_root(Live, pc.Ptr, (UIntPtr)(uint)(coeffs == null ? 0 : coeffs.Length), r0, out ulong root));
                return root;
            }
        }

        /// <summary>Free the ring; later calls are no-ops, other calls throw ObjectDisposedException.</summary>
        public void Dispose() { handle.Dispose(); }
    }
}
