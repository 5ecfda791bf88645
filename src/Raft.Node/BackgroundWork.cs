using Raft.Core;
using Raft.Storage;

namespace Raft.Node;

/// <summary>
/// Runs the work a node driver hands off its thread: writing a snapshot out, and finishing one received from the
/// leader (fsync, verify, load its image). A server runs each job on a thread-pool thread; the simulator runs it later
/// in simulated time (or never, when the node crashes first).
/// </summary>
public interface IBackgroundWorker
{
    /// <summary>
    /// Runs <paramref name="job"/>'s <see cref="BackgroundJob.Execute"/> off the driver's thread, then hands the job back
    /// to the driver with <see cref="NodeDriver{TStateMachine, TResult}.BackgroundDone"/>, as an input like any other.
    /// Must not block the caller.
    /// </summary>
    void Start(BackgroundJob job);
}

/// <summary>
/// A piece of the driver's work that runs off its thread. Only the driver creates jobs; a host only runs them and
/// hands them back.
/// </summary>
public abstract class BackgroundJob
{
    private protected BackgroundJob()
    {
    }

    /// <summary>What failed, when the job did not complete; seen by the driver when the job is handed back.</summary>
    public Exception? Failure { get; private set; }

    /// <summary>Whether <see cref="Execute"/> has run.</summary>
    public bool Executed { get; private set; }

    /// <summary>Does the work. Never throws: a failure is kept for the driver, which decides what it means.</summary>
    public void Execute()
    {
        try
        {
            Run();
        }
#pragma warning disable CA1031 // The driver judges the failure on its own thread: storage trouble is retried, anything else is a bug it throws.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Failure = ex;
        }
        finally
        {
            Executed = true;
        }
    }

    /// <summary>Releases what the job holds when it will never be handed back (its node crashed or stopped).</summary>
    public abstract void Abandon();

    private protected abstract void Run();

    /// <summary>Storage trouble (a full disk, damaged bytes: StorageCorruptedException is an IOException) is an expected outcome; anything else is a bug.</summary>
    internal static bool IsStorageFailure(Exception ex) =>
        ex is IOException or UnauthorizedAccessException or InvalidDataException;
}

/// <summary>Writes a frozen state machine image out as the node's latest snapshot.</summary>
internal sealed class TakeSnapshotJob(SnapshotMetadata metadata, IStateMachineImage image, ISnapshotStore store, long appliedBytes) : BackgroundJob
{
    private const int CopyBufferBytes = 1 << 20;

    public SnapshotMetadata Metadata { get; } = metadata;

    /// <summary>The bytes of entries applied up to the image, by the driver's count; what the snapshot relieves.</summary>
    public long AppliedBytes { get; } = appliedBytes;

    /// <summary>Whether the snapshot became the latest (false: a received one overtook it).</summary>
    public bool Installed { get; private set; }

    /// <summary>The snapshot's length, header and trailer included.</summary>
    public long Bytes { get; private set; }

    public override void Abandon() => image.Dispose();

    private protected override void Run()
    {
        try
        {
            using var sink = store.CreateSink(paced: true);
            using (var source = SnapshotStream.Open(Metadata, image.OpenRead()))
            {
                source.CopyTo(sink.AsStream(), CopyBufferBytes);
            }

            using var staged = sink.Finish();
            Bytes = staged.Length;
            Installed = store.Install(staged);
        }
        finally
        {
            image.Dispose();
        }
    }
}

/// <summary>
/// Finishes a snapshot received from the leader: makes it durable and verifies it, then loads its image into a detached
/// state, so that installing it on the driver's thread takes no time that grows with its size.
/// </summary>
internal sealed class FinishReceivedSnapshotJob<TResult>(SnapshotSink sink, IReplicatedStateMachine<TResult> stateMachine) : BackgroundJob
{
    public StagedSnapshot? Staged { get; private set; }

    public IStateMachineImage? Image { get; private set; }

    public override void Abandon()
    {
        Image?.Dispose();
        ReleaseFiles();
    }

    /// <summary>Once the staged snapshot is installed (or given up) and its image taken over: what is left goes.</summary>
    public void ReleaseFiles()
    {
        Staged?.Dispose();
        sink.Dispose();
    }

    private protected override void Run()
    {
        Staged = sink.Finish();
        using var body = Staged.OpenBody();
        Image = SnapshotImages.Load(stateMachine, body);
    }
}

internal static class SnapshotImages
{
    // A state machine reads its image a field at a time; unbuffered, each of those is a read from the file.
    private const int ReadBufferBytes = 1 << 20;

    /// <summary>
    /// Loads an image from a snapshot's body and reads the body to its end, which is where its checksum and trailer are
    /// verified: an image is used only from a snapshot that verified whole.
    /// </summary>
    public static IStateMachineImage Load<TResult>(IReplicatedStateMachine<TResult> stateMachine, Stream body)
    {
        using var buffered = new BufferedStream(body, ReadBufferBytes);
        var image = stateMachine.LoadImage(buffered);
        try
        {
            Span<byte> probe = stackalloc byte[1];
            if (buffered.Read(probe) != 0)
            {
                throw new InvalidDataException("the snapshot's body holds bytes after the state machine image");
            }

            return image;
        }
        catch
        {
            image.Dispose();
            throw;
        }
    }
}
