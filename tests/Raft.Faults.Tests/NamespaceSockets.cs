using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Raft.Faults.Tests;

/// <summary>
/// Makes TCP sockets in another network namespace for this process: a dedicated thread joins the namespace with
/// <c>setns</c> and creates every socket, and a socket stays in the namespace it was made in whichever thread uses
/// it later. HTTP handlers from <see cref="CreateHandler"/> connect from there.
/// </summary>
/// <remarks>Only the dedicated thread ever changes namespace; it runs nothing but socket creation.</remarks>
internal sealed class NamespaceSockets : IDisposable
{
    private static readonly TimeSpan JoinTimeout = TimeSpan.FromSeconds(10);

    private readonly BlockingCollection<TaskCompletionSource<Socket>> _requests = [];
    private readonly Thread _thread;

    public NamespaceSockets(string networkNamespace)
    {
        var joined = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var handle = File.OpenHandle($"/var/run/netns/{networkNamespace}", FileMode.Open, FileAccess.Read);
        _thread = new Thread(() => Serve(handle, joined)) { IsBackground = true, Name = $"sockets in {networkNamespace}" };
        _thread.Start();
        if (!joined.Task.Wait(JoinTimeout))
        {
            throw new TimeoutException($"the socket thread did not join {networkNamespace}");
        }
    }

    /// <summary>A TCP socket in the namespace.</summary>
    public Task<Socket> CreateAsync()
    {
        var request = new TaskCompletionSource<Socket>(TaskCreationOptions.RunContinuationsAsynchronously);
        _requests.Add(request);
        return request.Task;
    }

    /// <summary>An HTTP handler whose connections start in the namespace.</summary>
    public SocketsHttpHandler CreateHandler(TimeSpan connectTimeout) => new()
    {
        AllowAutoRedirect = false,
        ConnectTimeout = connectTimeout,
        ConnectCallback = async (context, cancellationToken) =>
        {
            var socket = await CreateAsync().ConfigureAwait(false);
            try
            {
                await socket.ConnectAsync(context.DnsEndPoint, cancellationToken).ConfigureAwait(false);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        },
    };

    public void Dispose()
    {
        _requests.CompleteAdding();
        _thread.Join(JoinTimeout);
        _requests.Dispose();
    }

    private void Serve(Microsoft.Win32.SafeHandles.SafeFileHandle handle, TaskCompletionSource joined)
    {
        using (handle)
        {
            if (NativeMethods.SetNamespace((int)handle.DangerousGetHandle(), NativeMethods.CloneNewNet) != 0)
            {
                joined.SetException(new InvalidOperationException($"setns failed (errno {Marshal.GetLastPInvokeError()})"));
                return;
            }
        }

        joined.SetResult();
        foreach (var request in _requests.GetConsumingEnumerable())
        {
            try
            {
                request.SetResult(new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true });
            }
            catch (SocketException e)
            {
                request.SetException(e);
            }
        }
    }
}
